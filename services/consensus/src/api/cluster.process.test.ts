// Three real `node dist/main.js` peers against a real nats-server: HTTP and JetStream
// submission, follower redirects, bad JetStream commands, events with Nats-Msg-Id = index, the
// gRPC client, and SIGTERM on the leader. Build first (`pnpm turbo run build --filter
// @tessera/consensus...`): the peers run the built code.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import {
  freePorts,
  type NatsServer,
  registerCleanup,
  startNatsServer,
  waitFor,
} from "@tessera/harness";
import {
  connect,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
} from "@tessera/messaging";
import { CMD_STREAM, EVENTS_STREAM, encodeHeartbeat, heartbeatSubject } from "@tessera/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManifestClient } from "./manifest-client.js";
import {
  manifestServiceDefinition,
  type ProposeStreamReplyWire,
  type ProposeStreamRequestWire,
} from "./manifest-grpc.js";

const MAIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "main.js");
const SPEC = { n: 256, tile: 64, mode: "exact", seed: 1 } as const;

interface Peer {
  id: number;
  grpc: string;
  http: string;
  proc: ChildProcess | undefined;
  exit: Promise<number | null> | undefined;
  output: string[];
  /** Extra flags (kept across restarts). */
  args: string[];
}

let nats: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let dataRoot: string;
let peerList: string;
const peers: Peer[] = [];

function startPeer(p: Peer, peerList: string): void {
  const proc = spawn(
    process.execPath,
    [
      MAIN,
      ...["--id", String(p.id), "--peers", peerList, "--data", join(dataRoot, `p${p.id}`)],
      ...["--http", p.http.replace("http://", ""), "--nats", nats.url, "--ack-wait-ms", "2000"],
      ...["--heartbeat-ms", "100"],
      ...["--peers-http", peers.map((q) => `${q.id}=${q.http.replace("http://", "")}`).join(",")],
      ...p.args,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const unregister = registerCleanup(() => proc.kill("SIGKILL"));
  p.output = [];
  const keep = (b: Buffer) => {
    p.output.push(b.toString());
    if (p.output.length > 400) p.output.splice(0, 200);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  p.proc = proc;
  p.exit = new Promise((resolve) =>
    proc.on("exit", (code) => {
      unregister();
      resolve(code);
    }),
  );
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { redirect: "manual" });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

async function post(
  url: string,
  body: unknown,
  redirect: "manual" | "follow" = "manual",
): Promise<{ status: number; body: Record<string, unknown>; location: string | null }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    redirect,
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    location: res.headers.get("location"),
  };
}

async function leader(among = peers.filter((p) => p.proc)): Promise<Peer> {
  let found: Peer | undefined;
  await waitFor(
    "a leader known to every running peer",
    async () => {
      const ids = await Promise.all(
        among.map(async (p) => {
          const r = await getJson(`${p.http}/v1/cluster`);
          return (r.body as { leader?: { id?: number } | null }).leader?.id ?? 0;
        }),
      );
      const first = ids[0];
      if (!first || ids.some((i) => i !== first)) return false;
      found = peers.find((p) => p.id === first && p.proc);
      return found !== undefined;
    },
    20_000,
  );
  return found as Peer;
}

async function onEveryPeer(jobId: string, among = peers.filter((p) => p.proc)): Promise<void> {
  for (const p of among) {
    await waitFor(
      `job ${jobId} on peer ${p.id}`,
      async () => (await getJson(`${p.http}/v1/jobs/${jobId}?consistency=stale`)).status === 200,
      20_000,
    );
  }
}

function envelope(clientId: string, seq: number, cmd: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, clientId, seq, cmd }));
}

async function metric(p: Peer, name: string): Promise<number> {
  const text = await (await fetch(`${p.http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

beforeAll(async () => {
  if (!existsSync(MAIN)) {
    throw new Error(
      `${MAIN} is missing: build first (pnpm turbo run build --filter @tessera/consensus...)`,
    );
  }
  nats = await startNatsServer();
  dataRoot = await mkdtemp(join(tmpdir(), "tessera-consensus-"));
  const ports = await freePorts(6);
  for (let i = 0; i < 3; i++) {
    peers.push({
      id: i + 1,
      grpc: `127.0.0.1:${ports[i]}`,
      http: `http://127.0.0.1:${ports[i + 3]}`,
      proc: undefined,
      exit: undefined,
      output: [],
      // Peer 3 runs as a binary one feature level behind until the rolling-upgrade test: every
      // other test runs on a mixed cluster held at level 1.
      args: i === 2 ? ["--feature-level", "1"] : [],
    });
  }
  peerList = peers.map((p) => `${p.id}=${p.grpc}`).join(",");
  for (const p of peers) startPeer(p, peerList);
  for (const p of peers) {
    await waitFor(
      `peer ${p.id} ready`,
      async () => (await getJson(`${p.http}/readyz`)).status === 200,
      30_000,
      100,
      () =>
        p.proc?.exitCode != null
          ? new Error(`peer ${p.id} exited:\n${p.output.join("")}`)
          : undefined,
    );
  }
  nc = await connect({ servers: nats.url, name: "consensus-test" });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
}, 90_000);

afterAll(async () => {
  for (const p of peers) p.proc?.kill("SIGKILL");
  await nc?.close();
  await nats?.stop();
  if (dataRoot) await rm(dataRoot, { recursive: true, force: true });
});

describe("consensus cluster (3 processes, real nats-server)", () => {
  it("accepts a job over HTTP on the leader and every peer applies it", async () => {
    const l = await leader();
    const r = await post(`${l.http}/v1/jobs`, { jobId: "http-job", spec: SPEC });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ ok: true, result: { jobId: "http-job" } });
    await onEveryPeer("http-job");
    const missing = await getJson(`${l.http}/v1/jobs/nope`);
    expect(missing.status).toBe(404);
    // One task, by id: a reduce nobody started yet; an unknown task is a 404 naming it.
    const task = await getJson(`${l.http}/v1/jobs/http-job/tasks/r-0-1`);
    expect(task.status).toBe(200);
    expect(task.body).toMatchObject({ taskId: "r-0-1", kind: "reduce", i: 0, j: 1 });
    expect(task.body).toMatchObject({ state: "pending", lastAttempt: 0, output: null });
    const noTask = await getJson(`${l.http}/v1/jobs/http-job/tasks/r-99-0`);
    expect(noTask.status).toBe(404);
    expect((noTask.body as { error: { message: string } }).error.message).toBe(
      'task "r-99-0" of job "http-job" does not exist',
    );
    expect((await getJson(`${l.http}/v1/jobs/nope/tasks/r-0-0`)).status).toBe(404);
    // Live attempts: none yet; after an attempt-start, that one (not yet bound to a node).
    expect((await getJson(`${l.http}/v1/jobs/http-job/attempts`)).body).toMatchObject({
      attempts: [],
    });
    const started = await post(`${l.http}/v1/commands`, {
      v: 1,
      clientId: "http-attempts",
      seq: 1,
      cmd: { type: "attempt-start", jobId: "http-job", taskId: "m-0-1-0", attempt: 1 },
    });
    expect(started.body).toMatchObject({ ok: true });
    const live = await getJson(`${l.http}/v1/jobs/http-job/attempts`);
    expect(live.status).toBe(200);
    expect((live.body as { attempts: unknown[] }).attempts).toEqual([
      expect.objectContaining({ taskId: "m-0-1-0", attempt: 1, nodeId: null, speculative: false }),
    ]);
    expect((await getJson(`${l.http}/v1/jobs/nope/attempts`)).status).toBe(404);
    // Every peer's /metrics shows the manifest it holds: one job, its K³ maps + K² reduces.
    const K = SPEC.n / SPEC.tile;
    for (const p of peers.filter((x) => x.proc)) {
      expect(await metric(p, "tessera_manifest_jobs_total"), `peer ${p.id}`).toBe(1);
      expect(await metric(p, "tessera_manifest_tasks_total"), `peer ${p.id}`).toBe(K ** 3 + K ** 2);
    }
  });

  it("answers a write on a follower with 307 to the leader, and 400 naming a bad field", async () => {
    const l = await leader();
    const f = peers.find((p) => p.proc && p.id !== l.id) as Peer;
    const r = await post(`${f.http}/v1/jobs`, { jobId: "redirected", spec: SPEC });
    expect(r.status).toBe(307);
    expect(r.location).toBe(`${l.http}/v1/jobs`);
    expect(r.body).toMatchObject({
      error: { code: "TESSERA_E_CONSENSUS_NOT_LEADER", leader: { id: l.id } },
    });
    const followed = await post(`${f.http}/v1/jobs`, { jobId: "redirected", spec: SPEC }, "follow");
    expect(followed.status).toBe(201);
    const bad = await post(`${l.http}/v1/jobs`, { spec: { ...SPEC, tile: 60 } });
    expect(bad.status).toBe(400);
    expect(String((bad.body.error as { message: string }).message)).toContain("/spec/tile");

    // ?finished=N: the unfinished jobs and only the N latest to finish (what `tessera top` polls).
    expect((await post(`${l.http}/v1/jobs/redirected/cancel`, {})).status).toBe(200);
    const listed = async (query: string) => {
      const r = await getJson(`${f.http}/v1/jobs?consistency=stale${query}`);
      expect(r.status).toBe(200);
      return (r.body as { jobs: { jobId: string }[] }).jobs.map((j) => j.jobId);
    };
    await waitFor(
      "the cancel applied on the follower",
      async () => !(await listed("&finished=0")).includes("redirected"),
      10_000,
    );
    expect(await listed("&finished=0")).toContain("http-job");
    expect(await listed("&finished=1")).toEqual([...(await listed("&finished=0")), "redirected"]);
    expect(await listed("")).toContain("redirected");
    const badQuery = await getJson(`${l.http}/v1/jobs?finished=-1`);
    expect(badQuery.status).toBe(400);
    expect((badQuery.body as { error: { message: string } }).error.message).toMatch(
      /^\?finished: must be an integer in \[0, /,
    );
  });

  it("applies a command from JetStream on every peer and acks it after apply", async () => {
    await js.publish(
      "tessera.cmd.job.submit",
      envelope("js-client", 1, { type: "submit-job", jobId: "js-job", spec: SPEC }),
      { msgID: "js-client:1" },
    );
    await onEveryPeer("js-job");
    await waitFor(
      "TESSERA_CMD drained (work queue: acked messages are removed)",
      async () => (await jsm.streams.info(CMD_STREAM.name)).state.messages === 0,
      20_000,
    );
  });

  it("terminates bad JetStream commands with a reason and keeps consuming", async () => {
    const l = await leader();
    const before = await metric(l, "tessera_consensus_commands_terminated_total");
    await js.publish("tessera.cmd.job.submit", new TextEncoder().encode("not json"));
    await js.publish(
      "tessera.cmd.job.submit",
      envelope("js-client", 2, { type: "submit-job", spec: { ...SPEC, mode: "fuzzy" } }),
    );
    await js.publish(
      "tessera.cmd.job.submit",
      envelope("js-client", 3, { type: "submit-job", jobId: "after-bad", spec: SPEC }),
    );
    await onEveryPeer("after-bad");
    await waitFor(
      "the consumer to have settled every message",
      async () => {
        const c = await jsm.consumers.info(CMD_STREAM.name, "consensus");
        return c.num_pending === 0 && c.num_ack_pending === 0;
      },
      20_000,
    );
    expect((await jsm.streams.info(CMD_STREAM.name)).state.messages).toBe(0);
    expect(await metric(l, "tessera_consensus_commands_terminated_total")).toBe(before + 2);
  });

  it("publishes each index's events on TESSERA_EVENTS with Nats-Msg-Id = index", async () => {
    const l = await leader();
    const job = (await getJson(`${l.http}/v1/jobs/js-job`)).body as { submitIndex: number };
    let found:
      | {
          id: string | undefined;
          body: { index: number; events: { type: string; jobId?: string }[] };
        }
      | undefined;
    await waitFor(
      "job.submitted of js-job in TESSERA_EVENTS",
      async () => {
        const last = (await jsm.streams.info(EVENTS_STREAM.name)).state.last_seq;
        for (let seq = 1; seq <= last; seq++) {
          const m = await jsm.streams.getMessage(EVENTS_STREAM.name, { seq }).catch(() => null);
          if (!m) continue;
          const body = m.json<{ index: number; events: { type: string; jobId?: string }[] }>();
          if (body.events.some((e) => e.type === "submitted" && e.jobId === "js-job")) {
            found = { id: m.header?.get("Nats-Msg-Id"), body };
            expect(m.subject).toBe("tessera.evt.job");
            return true;
          }
        }
        return false;
      },
      20_000,
      200,
    );
    expect(found?.body.index).toBe(job.submitIndex);
    expect(found?.id).toBe(String(job.submitIndex));
  });

  it("gRPC: a client on a follower follows the redirect; a retried seq is answered once", async () => {
    const l = await leader();
    const f = peers.find((p) => p.proc && p.id !== l.id) as Peer;
    const client = new ManifestClient({ peers: [f.grpc], clientId: "grpc-test" });
    try {
      const r = await client.propose({ type: "submit-job", jobId: "grpc-job", spec: SPEC });
      expect(r.reply).toMatchObject({ ok: true, result: { jobId: "grpc-job" } });
      expect(client.leaderAddress).toBe(l.grpc);
      // The same (clientId, seq) again, as after a lost reply: the session answers, nothing reruns.
      const again = await client.proposeEnvelope({
        v: 1,
        clientId: "grpc-test",
        seq: 1,
        cmd: { type: "submit-job", jobId: "grpc-job", spec: SPEC },
      });
      expect(again.reply).toMatchObject({ ok: true, duplicate: true });
      const read = await client.read({ type: "job", jobId: "grpc-job" });
      expect(read.result).toMatchObject({ jobId: "grpc-job", submitIndex: r.index });
      const stale = await client.read({ type: "jobs" }, "stale");
      expect(Array.isArray(stale.result)).toBe(true);
      const abort = new AbortController();
      const seen: number[] = [];
      for await (const b of client.watch(1, abort.signal, f.grpc)) {
        seen.push(b.index);
        if (b.index >= r.index) abort.abort();
      }
      expect(seen).toContain(r.index);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    } finally {
      client.close();
    }
  });

  it("gRPC: as many concurrent proposals as peers, all failing on a dead peer first, reach the leader", async () => {
    // A leader SIGKILLed under a busy scheduler: its calls fail together on the dead peer's
    // stream. They used to step a shared rotation once each and, three calls for three peers,
    // land on the dead peer again every round until they timed out (seen: a job stalled 35 s).
    const l = await leader();
    const [dead1, dead2] = (await freePorts(2)).map((p) => `127.0.0.1:${p}`);
    const client = new ManifestClient({
      peers: [dead1 as string, dead2 as string, l.grpc],
      clientId: "grpc-dead-first",
      timeoutMs: 8_000,
    });
    try {
      const replies = await Promise.all(
        [1, 2, 3].map((i) =>
          client.propose({ type: "submit-job", jobId: `dead-first-${i}`, spec: SPEC }),
        ),
      );
      for (const [i, r] of replies.entries()) {
        expect(r.reply).toMatchObject({ ok: true, result: { jobId: `dead-first-${i + 1}` } });
      }
      expect(client.leaderAddress).toBe(l.grpc);
    } finally {
      client.close();
    }
  });

  it("gRPC ProposeStream: many commands in flight on one stream, each answered by id, applied once", async () => {
    const l = await leader();
    const client = new ManifestClient({ peers: [l.grpc], clientId: "stream-test" });
    const fsyncsBefore = await metric(l, "tessera_raft_log_fsyncs_total");
    const entriesBefore = await metric(l, "tessera_raft_ready_entries_sum");
    const commandsBefore = await metric(l, "tessera_raft_entry_commands_sum");
    try {
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          client.propose({ type: "submit-job", jobId: `stream-job-${i}`, spec: SPEC }),
        ),
      );
      replies.forEach((r, i) => {
        expect(r.reply).toMatchObject({ ok: true, result: { jobId: `stream-job-${i}` } });
      });
      // Sent in one message, they are packed into a few entries (one index, one event batch
      // each) and group-committed: far fewer entries and fsyncs than commands.
      const indexes = replies.map((r) => r.index);
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
      expect(new Set(indexes).size).toBeLessThan(20);
      expect(await metric(l, "tessera_raft_entry_commands_sum")).toBeGreaterThanOrEqual(
        commandsBefore + 200,
      );
      expect(await metric(l, "tessera_raft_ready_entries_sum")).toBeLessThan(entriesBefore + 20);
      expect(await metric(l, "tessera_raft_log_fsyncs_total")).toBeLessThan(fsyncsBefore + 20);
      // A bad command on the stream is answered with its reason; the stream keeps serving.
      const bad = await client
        .proposeEnvelope({ v: 1, clientId: "stream-test", seq: 0, cmd: { type: "noop" } })
        .catch((e: unknown) => e);
      expect(bad).toMatchObject({ code: "TESSERA_E_CONSENSUS_BAD_REQUEST" });
      const after = await client.propose({ type: "noop" });
      expect(after.reply).toMatchObject({ ok: true });
      const jobs = await client.read({ type: "jobs" });
      const ids = (jobs.result as { jobId: string }[]).map((j) => j.jobId);
      for (let i = 0; i < 200; i++) expect(ids).toContain(`stream-job-${i}`);
    } finally {
      client.close();
    }
  });

  it("gRPC ProposeStream: a single-command message (no batch) gets a single reply", async () => {
    const l = await leader();
    const m = manifestServiceDefinition().ProposeStream as grpc.MethodDefinition<
      ProposeStreamRequestWire,
      ProposeStreamReplyWire
    >;
    const client = new grpc.Client(l.grpc, grpc.credentials.createInsecure());
    try {
      const call = client.makeBidiStreamRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        new grpc.Metadata(),
        {},
      );
      const envelope = { v: 1, clientId: "single-form", seq: 1, cmd: { type: "noop" } };
      const reply = new Promise<ProposeStreamReplyWire>((resolve, reject) => {
        call.once("data", resolve);
        call.once("error", reject);
      });
      call.write({ id: 42, command: new TextEncoder().encode(JSON.stringify(envelope)) });
      const r = await reply;
      expect(r).toMatchObject({ id: 42, errorCode: "", batch: [] });
      expect(r.index).toBeGreaterThan(0);
      expect(JSON.parse(new TextDecoder().decode(r.reply))).toMatchObject({ ok: true });
      call.end();
    } finally {
      client.close();
    }
  });

  it("registers a node from its heartbeats and declares it failed when they stop", async () => {
    let seq = 0;
    const beat = () =>
      nc.publish(
        heartbeatSubject("hb-node"),
        encodeHeartbeat({
          v: 1,
          nodeId: "hb-node",
          seq: seq++,
          sentAt: Date.now(),
          labels: { cloud: "local", region: "r1", zone: "r1-a", pool: "cpu" },
          capacity: { slots: 2, cpus: 4, memoryBytes: 1 << 30, gpus: 0 },
          executionProvider: "cpu",
          state: "active",
          running: [],
        }),
      );
    const nodeState = async (p: Peer) => {
      const r = await getJson(`${p.http}/v1/nodes?consistency=stale`);
      const nodes = (r.body as { nodes: { nodeId: string; state: string }[] }).nodes;
      return nodes.find((n) => n.nodeId === "hb-node")?.state;
    };
    const timer = setInterval(beat, 100);
    try {
      for (const p of peers.filter((q) => q.proc)) {
        await waitFor(
          `hb-node active on peer ${p.id}`,
          async () => (await nodeState(p)) === "active",
          20_000,
        );
      }
    } finally {
      clearInterval(timer);
    }
    for (const p of peers.filter((q) => q.proc)) {
      await waitFor(
        `hb-node failed on peer ${p.id}`,
        async () => (await nodeState(p)) === "failed",
        20_000,
      );
    }
  });

  it("SIGTERM on the leader: it exits 0, another peer leads, writes continue", async () => {
    const l = await leader();
    l.proc?.kill("SIGTERM");
    expect(await l.exit).toBe(0);
    l.proc = undefined;
    const next = await leader();
    expect(next.id).not.toBe(l.id);
    const r = await post(`${next.http}/v1/jobs`, { jobId: "after-term", spec: SPEC });
    expect(r.status).toBe(201);
    await onEveryPeer("after-term");
    await js.publish(
      "tessera.cmd.job.submit",
      envelope("js-client", 4, { type: "submit-job", jobId: "js-after-term", spec: SPEC }),
    );
    await onEveryPeer("js-after-term");
  });

  it("SIGKILL of the leader: a JetStream command sent meanwhile is applied by the next leader; the killed peer restarts and catches up", async () => {
    // Bring the SIGTERMed peer back first so a majority survives the kill.
    const down = peers.find((p) => !p.proc) as Peer;
    startPeer(down, peerList);
    await onEveryPeer("after-term", [down]);
    const l = await leader();
    l.proc?.kill("SIGKILL");
    await l.exit;
    l.proc = undefined;
    await js.publish(
      "tessera.cmd.job.submit",
      envelope("js-client", 5, { type: "submit-job", jobId: "during-kill", spec: SPEC }),
    );
    const next = await leader();
    expect(next.id).not.toBe(l.id);
    await onEveryPeer("during-kill");
    startPeer(l, peerList);
    await onEveryPeer("during-kill", [l]);
  });

  it("every event batch is in TESSERA_EVENTS exactly once and in index order, with Nats-Msg-Id = its index", async () => {
    const l = await leader();
    const client = new ManifestClient({ peers: [l.grpc] });
    const expected: number[] = [];
    const abort = new AbortController();
    // The backlog arrives at once; the stream is idle after it (nothing else is proposed now).
    let idle = setTimeout(() => abort.abort(), 2_000);
    try {
      // Every ring holds every batch from index 1: no snapshot yet, restarted peers replayed.
      for await (const b of client.watch(1, abort.signal, l.grpc)) {
        expected.push(b.index);
        clearTimeout(idle);
        idle = setTimeout(() => abort.abort(), 1_000);
      }
    } finally {
      clearTimeout(idle);
      client.close();
    }
    expect(expected.length).toBeGreaterThan(5);
    const last = expected[expected.length - 1] as number;
    let stored: number[] = [];
    await waitFor(
      `event batches up to index ${last} in TESSERA_EVENTS`,
      async () => {
        stored = [];
        const info = await jsm.streams.info(EVENTS_STREAM.name);
        for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
          const m = await jsm.streams.getMessage(EVENTS_STREAM.name, { seq }).catch(() => null);
          if (!m) continue;
          const index = m.json<{ index: number }>().index;
          expect(m.header?.get("Nats-Msg-Id")).toBe(String(index));
          stored.push(index);
        }
        return expected.every((i) => stored.includes(i));
      },
      20_000,
      250,
    );
    expect(new Set(stored).size).toBe(stored.length);
    // Followers apply in stream order and skip indexes they have passed: order is the contract.
    expect(stored).toEqual([...stored].sort((a, b) => a - b));
  });

  it("rolling upgrade: a level-2 field waits for the last peer; a peer that cannot apply the raised level stops", async () => {
    const levels = async () =>
      Promise.all(
        peers.map(async (p) => {
          const r = await getJson(`${p.http}/v1/cluster`);
          return (r.body as { featureLevel: { cluster: number; supported: number } }).featureLevel;
        }),
      );
    expect(await levels()).toEqual([
      { cluster: 1, supported: 2 },
      { cluster: 1, supported: 2 },
      { cluster: 1, supported: 1 },
    ]);
    let l = await leader();
    const command = (seq: number, cmd: unknown) =>
      post(`${l.http}/v1/commands`, { v: 1, clientId: "upgrade-test", seq, cmd }, "follow");
    const upsert = await command(1, {
      type: "node-upsert",
      nodeId: "upgrade-node",
      labels: { cloud: "local", region: "r1", zone: "r1-a", pool: "cpu" },
      capacity: { slots: 2, cpus: 4, memoryBytes: 1 << 30, gpus: 0 },
      executionProvider: "cpu",
      at: Date.now(),
    });
    expect(upsert.status).toBe(200);
    const drain = {
      type: "node-drain",
      nodeId: "upgrade-node",
      drained: true,
      reason: "rack move",
    };
    const refused = await command(2, drain);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ ok: false, code: "feature-unavailable" });
    expect(String(refused.body.reason)).toMatch(
      /needs cluster feature level 2; the cluster runs at level 1/,
    );
    // Only the leader itself raises the level: a client's raise is refused at the door.
    const forced = await command(3, { type: "cluster-level", level: 2 });
    expect(forced.status).toBe(400);
    expect(forced.body).toMatchObject({ error: { code: "TESSERA_E_CONSENSUS_BAD_REQUEST" } });

    // Upgrade the last peer: the leader hears it now supports level 2 and commits the raise.
    const old = peers[2] as Peer;
    old.proc?.kill("SIGTERM");
    expect(await old.exit).toBe(0);
    old.args = [];
    startPeer(old, peerList);
    await waitFor(
      "feature level 2 on every peer",
      async () => {
        const now = await levels().catch(() => undefined);
        return now?.every((x) => x.cluster === 2) === true;
      },
      30_000,
      200,
    );
    expect(await metric(old, "tessera_consensus_feature_level")).toBe(4); // cluster 2 + peer 2
    l = await leader();
    // The refused seq was not recorded: it runs now.
    const drained = await command(2, drain);
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ ok: true, result: { drained: true, changed: true } });
    for (const p of peers) {
      await waitFor(
        `drain reason on peer ${p.id}`,
        async () => {
          const r = await getJson(`${p.http}/v1/nodes?consistency=stale`);
          const nodes = (r.body as { nodes: { nodeId: string; drainReason: string | null }[] })
            .nodes;
          return nodes.find((n) => n.nodeId === "upgrade-node")?.drainReason === "rack move";
        },
        20_000,
      );
    }

    // A new member too old for the committed level is refused before it joins.
    const [joinGrpc, joinHttp] = await freePorts(2);
    const joiner: Peer = {
      id: 4,
      grpc: `127.0.0.1:${joinGrpc}`,
      http: `http://127.0.0.1:${joinHttp}`,
      proc: undefined,
      exit: undefined,
      output: [],
      args: ["--join", "--grpc", `127.0.0.1:${joinGrpc}`, "--feature-level", "1"],
    };
    startPeer(joiner, peerList);
    try {
      await waitFor(
        "the joiner's /healthz",
        async () =>
          (await getJson(`${joiner.http}/healthz`).catch(() => ({ status: 0 }))).status === 200,
        20_000,
      );
      const add = await post(
        `${l.http}/admin/peers`,
        { id: 4, grpc: joiner.grpc, http: joiner.http },
        "follow",
      );
      expect(add.status).toBe(409);
      expect(add.body).toMatchObject({ error: { code: "TESSERA_E_CONSENSUS_FEATURE_LEVEL" } });
      expect(String((add.body.error as { message: string }).message)).toMatch(
        /^peer 4 supports manifest feature level 1, the cluster runs at 2/,
      );
    } finally {
      joiner.proc?.kill("SIGTERM");
      await joiner.exit;
    }

    // Rolled back to a binary that cannot apply level 2: it stops instead of diverging.
    old.proc?.kill("SIGTERM");
    expect(await old.exit).toBe(0);
    old.args = ["--feature-level", "1"];
    startPeer(old, peerList);
    await waitFor("the rolled-back peer to stop", async () => old.proc?.exitCode != null, 20_000);
    expect(old.proc?.exitCode).toBe(1);
    expect(old.output.join("")).toMatch(
      /the cluster runs at feature level 2 \(index \d+\) but this peer supports at most 1/,
    );
    old.args = [];
    startPeer(old, peerList);
    await onEveryPeer("after-term", [old]);
  });
});
