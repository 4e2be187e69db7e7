// A consensus peer whose JetStream cluster is not answering yet when it connects: every pod of a
// Helm install starts at once, so the NATS servers may still be electing their meta leader when
// the peers arrive. The peer used to log "NATS setup failed" on the first timed-out JetStream
// request and stay without ingestion, events and heartbeats for good (never ready, never
// restarted: its liveness probe kept passing). Build first: the peer runs dist/main.js.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts, type NatsCluster, startNatsCluster, waitFor } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  getJsonOrEmpty,
  PEER_MAIN,
  type PeerProcess,
  spawnPeer,
} from "./peer-process.test-helpers.js";

let cluster: NatsCluster;
let dataDir: string;
let peer: PeerProcess | undefined;

beforeAll(async () => {
  cluster = await startNatsCluster({ size: 3 });
  await cluster.waitForMetaLeader();
  dataDir = await mkdtemp(join(tmpdir(), "tessera-nats-quorum-"));
}, 90_000);

afterAll(async () => {
  peer?.proc.kill("SIGKILL");
  await cluster?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function readyz(http: string): Promise<{ ready?: unknown; nats?: unknown }> {
  return getJsonOrEmpty(`${http}/readyz`);
}

describe.runIf(existsSync(PEER_MAIN))(
  "consensus peer and a JetStream cluster without quorum",
  () => {
    it("keeps asking until JetStream answers, then turns ready", async () => {
      const [first, second, third] = cluster.servers;
      if (!first || !second || !third) throw new Error("a 3-node cluster was expected");
      // One server of three running, as when the first NATS pod is up before the others: it
      // accepts clients, but with no meta leader its JetStream API does not answer.
      await Promise.all([first.kill(), second.kill(), third.kill()]);
      // (restart() resolves once the server sees a meta leader again: after the others are back.)
      const firstBack = first.restart();
      firstBack.catch(() => undefined);
      const [grpcPort, httpPort] = await freePorts(2);
      const http = `http://127.0.0.1:${httpPort}`;
      peer = spawnPeer([
        ...["--id", "1", "--peers", `1=127.0.0.1:${grpcPort}`, "--data", dataDir],
        ...["--http", `127.0.0.1:${httpPort}`, "--nats", first.url, "--replicas", "3"],
      ]);
      const output = peer.output;
      // Connected, and then longer than a JetStream request's 5 s timeout without an answer.
      await waitFor(
        "the peer to connect to NATS",
        async () => output().includes("nats connected"),
        20_000,
        100,
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\npeer output:\n${output().slice(-3000)}`);
      });
      await new Promise((r) => setTimeout(r, 7_000));
      expect((await readyz(http)).nats).toBe("connecting");

      await Promise.all([second.restart(), third.restart(), firstBack]);
      await waitFor(
        "the peer ready with NATS",
        async () => {
          const r = await readyz(http);
          return r.ready === true && r.nats === "ready";
        },
        60_000,
        200,
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\npeer output:\n${output().slice(-3000)}`);
      });
      expect(output()).not.toContain("NATS setup failed");
    }, 120_000);
  },
);
