// A consensus peer told to stop (SIGTERM) right after it became leader while its NATS does not
// answer: as when a Helm uninstall deletes every pod at once, and leadership moves between
// peers that are all stopping. Its new leader duties (the event publisher reading where the
// stream ends, the command consumer's first pull) wait on JetStream requests no server answers;
// the stop used to wait for them past its grace and exit 1 ("shutdown grace exceeded"). Build
// first: the peers run dist/main.js.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts, type NatsServer, startNatsServer, waitFor } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  getJsonOrEmpty as json,
  PEER_MAIN,
  type PeerProcess,
  spawnPeer,
} from "./peer-process.test-helpers.js";

interface Peer extends PeerProcess {
  id: number;
  http: string;
}

let nats: NatsServer;
let dataRoot: string;
let frozen: number | undefined;
const peers: Peer[] = [];

beforeAll(async () => {
  nats = await startNatsServer({ mode: "process" });
  dataRoot = await mkdtemp(join(tmpdir(), "tessera-shutdown-no-nats-"));
}, 60_000);

afterAll(async () => {
  if (frozen) process.kill(frozen, "SIGCONT");
  for (const p of peers) p.proc.kill("SIGKILL");
  await nats?.stop();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

describe.runIf(existsSync(PEER_MAIN))("consensus peer stopped while NATS does not answer", () => {
  it("stops within its grace and exits 0 even with leader duties just started", async () => {
    const ports = await freePorts(6);
    const grpc = (i: number) => `127.0.0.1:${ports[2 * i]}`;
    const http = (i: number) => `127.0.0.1:${ports[2 * i + 1]}`;
    const ids = [1, 2, 3];
    const peerList = ids.map((id) => `${id}=${grpc(id - 1)}`).join(",");
    const httpList = ids.map((id) => `${id}=${http(id - 1)}`).join(",");
    for (const id of ids) {
      const spawned = spawnPeer([
        ...["--id", String(id), "--peers", peerList, "--peers-http", httpList],
        ...["--data", join(dataRoot, `p${id}`), "--http", http(id - 1), "--nats", nats.url],
      ]);
      peers.push({ ...spawned, id, http: `http://${http(id - 1)}` });
    }
    let leaderId = 0;
    await waitFor(
      "every peer ready with a leader",
      async () => {
        const states = await Promise.all(peers.map((p) => json(`${p.http}/readyz`)));
        leaderId = Number(states[0]?.leaderId ?? 0);
        return states.every((s) => s.ready === true);
      },
      30_000,
      100,
    );
    // NATS stops answering without closing anything (its process frozen: a hung node, or an
    // address that vanished): every JetStream request now waits out its timeout.
    const listener = execFileSync("ss", ["-ltnpH", `sport = :${nats.port}`], { encoding: "utf8" });
    frozen = Number(/pid=(\d+)/.exec(listener)?.[1]);
    process.kill(frozen, "SIGSTOP");
    // Leadership moves (Raft needs no NATS); the new leader starts its duties against it...
    const leader = peers.find((p) => p.id === leaderId);
    const next = peers.find((p) => p.id !== leaderId);
    if (!leader || !next) throw new Error(`no leader among the peers (${leaderId})`);
    const moved = await json(`${leader.http}/admin/transfer`, { to: next.id });
    expect(moved.leaderId, JSON.stringify(moved)).toBe(next.id);
    await new Promise((r) => setTimeout(r, 300));
    // ...and is told to stop while they hang.
    next.proc.kill("SIGTERM");
    const code = await next.exited;
    expect(code, next.output().slice(-3000)).toBe(0);
  }, 90_000);
});
