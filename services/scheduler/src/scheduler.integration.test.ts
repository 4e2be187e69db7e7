// End to end with real processes: nats-server, a 3-peer consensus cluster, two agents and TWO
// scheduler instances (no leader lease: fencing + msg-id dedup must keep them from doubling
// work); mid-job one scheduler is SIGKILLed and a third starts (restart safety). An exact
// 256×256 matmul (tile 64: 64 maps + 16 reduces) must finish, verify with Freivalds, and
// every task must have been done by exactly one attempt whose work item was stored once.
// No timed assertions: waits are liveness bounds that fail with the processes' log tails.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ManifestClient } from "@tessera/consensus";
import { freePorts, type NatsServer, startNatsServer } from "@tessera/harness";
import { decodeTile, jobOutputDigest, outputKey, verifyJob } from "@tessera/matrix";
import {
  closeGracefully,
  connect,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  nextWithDeadline,
} from "@tessera/messaging";
import {
  decodeManifestEventBatch,
  EVENTS_STREAM,
  type ManifestEvent,
  WORK_STREAM,
} from "@tessera/protocol";
import { FsObjectStore } from "@tessera/storage";
import { ConsensusCluster } from "@tessera/test-consensus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const HERE = dirname(fileURLToPath(import.meta.url));
const SCHEDULER_MAIN = join(HERE, "..", "dist", "main.js");
const AGENT_MAIN = join(HERE, "..", "..", "agent", "dist", "main.js");
const CONSENSUS_MAIN = join(HERE, "..", "..", "consensus", "dist", "main.js");

interface Proc {
  name: string;
  proc: ChildProcess;
  output: string[];
  httpPort?: number;
}

let nats: NatsServer;
let cluster: ConsensusCluster;
let storeDir: string;
const procs: Proc[] = [];

function spawnNode(name: string, main: string, args: string[], httpPort?: number): Proc {
  const output: string[] = [];
  const proc = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout?.on("data", (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on("data", (d: Buffer) => output.push(d.toString()));
  const p: Proc = { name, proc, output, ...(httpPort === undefined ? {} : { httpPort }) };
  procs.push(p);
  return p;
}

/** Every committed event in TESSERA_EVENTS, in log order. */
async function committedEvents(
  nc: NatsConnection,
  jsm: JetStreamManager,
): Promise<ManifestEvent[]> {
  const last = (await jsm.streams.info(EVENTS_STREAM.name)).state.last_seq;
  const consumer = await jetstream(nc).consumers.get(EVENTS_STREAM.name);
  const out: ManifestEvent[] = [];
  for (;;) {
    const m = await nextWithDeadline(consumer, { expiresMs: 5_000 });
    if (!m) break;
    out.push(...decodeManifestEventBatch(m.data).events);
    if (m.seq >= last) break;
  }
  return out;
}

async function logs(): Promise<string> {
  const own = procs.map((p) => `--- ${p.name}\n${p.output.join("").slice(-4000)}`).join("\n");
  const peers = await Promise.all(
    (cluster?.peers ?? []).map(async (p) => `--- consensus ${p.id}\n${await p.logTail(2000)}`),
  );
  return `${own}\n${peers.join("\n")}`;
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${await logs()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.json() };
}

function startScheduler(name: string, port: number, consensus: string, extra: string[] = []): Proc {
  return spawnNode(
    name,
    SCHEDULER_MAIN,
    [
      ...["--consensus", consensus, "--nats", nats.url, "--id", name],
      ...["--http", `127.0.0.1:${port}`, "--speculation-factor", "0"],
      ...["--initial-deadline-ms", "600000", "--log-level", "info"],
      ...extra,
    ],
    port,
  );
}

beforeAll(async () => {
  for (const main of [SCHEDULER_MAIN, AGENT_MAIN, CONSENSUS_MAIN]) {
    if (!existsSync(main))
      throw new Error(`${main} is missing: run \`pnpm turbo run build\` first`);
  }
  nats = await startNatsServer({ mode: "process" });
  cluster = await ConsensusCluster.start({ size: 3, name: "scheduler-e2e", nats });
  storeDir = await mkdtemp(join(tmpdir(), "tessera-scheduler-e2e-"));
  for (const id of ["agent-1", "agent-2"]) {
    spawnNode(id, AGENT_MAIN, [
      ...["--nats", nats.url, "--node-id", id, "--pool", "cpu", "--storage", `fs:${storeDir}`],
      ...[
        "--ep",
        "cpu",
        "--slots",
        "1",
        "--threads",
        "1",
        "--region",
        id === "agent-1" ? "r1" : "r2",
      ],
    ]);
  }
}, 120_000);

afterAll(async () => {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill("SIGKILL");
  // TESSERA_TEST_LOG_DIR=DIR keeps every process's log for a post-mortem.
  const keep = process.env.TESSERA_TEST_LOG_DIR;
  if (keep) {
    await mkdir(keep, { recursive: true });
    for (const p of procs) await writeFile(join(keep, `${p.name}.log`), p.output.join(""));
  }
  await cluster?.stop();
  await nats?.stop();
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
}, 60_000);

describe("scheduler end to end (real nats, 3 consensus peers, 2 agents, 2 schedulers)", () => {
  it("runs an exact 256/64 matmul to a verified result with every task done once", async () => {
    const consensus = cluster.peers.map((p) => p.httpUrl).join(",");
    const [portA, portB, portC] = await freePorts(3);
    const schedulers = [
      startScheduler("sched-a", portA as number, consensus),
      startScheduler("sched-b", portB as number, consensus),
    ];
    for (const s of schedulers) {
      await waitFor(
        `${s.name} /readyz`,
        async () =>
          (await getJson(`http://127.0.0.1:${s.httpPort}/readyz`)).status === 200
            ? true
            : undefined,
        60_000,
      );
    }
    // Polls read any peer without a barrier (stale reads); writes are redirected to the leader.
    const peer = (await cluster.waitForLeader()).peer;
    await waitFor(
      "both agents registered in the manifest",
      async () => {
        const { body } = await getJson(`${peer.httpUrl}/v1/nodes?consistency=stale`);
        const nodes = (body as { nodes: { nodeId: string; state: string }[] }).nodes;
        return nodes.filter((n) => n.state === "active").length >= 2 ? true : undefined;
      },
      60_000,
    );

    const jobId = "mm-e2e";
    const submittedAt = Date.now();
    const spec = { n: 256, tile: 64, mode: "exact" as const, seed: 11 };
    await waitFor(
      "job submitted",
      async () => {
        const res = await fetch(`${peer.httpUrl}/v1/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jobId, spec }),
          signal: AbortSignal.timeout(10_000),
        });
        return res.status === 201 || res.status === 200 ? true : undefined;
      },
      30_000,
    );
    // Mid-job: SIGKILL one scheduler (no goodbye) and start a fresh instance.
    await waitFor(
      "a quarter of the maps done",
      async () => {
        const { body } = await getJson(`${peer.httpUrl}/v1/jobs/${jobId}?consistency=stale`);
        return (body as { counts: { mapsDone: number } }).counts.mapsDone >= 16 ? true : undefined;
      },
      240_000,
    );
    const killed = schedulers[0] as Proc;
    killed.proc.kill("SIGKILL");
    const fresh = startScheduler("sched-c", portC as number, consensus);
    const survivors = [schedulers[1] as Proc, fresh];
    // The scheduler's part ends when every reduce completed: the job is `verifying` until a
    // verifier (the storage-manager; here the test itself, below) commits job-verified.
    const job = await waitFor(
      "job computed (every reduce complete)",
      async () => {
        const { body } = await getJson(`${peer.httpUrl}/v1/jobs/${jobId}?consistency=stale`);
        const j = body as { state: string; outputDigest: string | null; counts: { tasks: number } };
        if (j.state === "failed" || j.state === "cancelled")
          throw new Error(`job ended ${j.state}`);
        return j.state === "verifying" || j.state === "succeeded" ? j : undefined;
      },
      240_000,
    );
    const computedMs = Date.now() - submittedAt;
    expect(job.counts.tasks).toBe(80);

    // Every task: done, by attempt 1, nothing live — no work was doubled between the schedulers.
    const client = new ManifestClient({ peers: cluster.peers.map((p) => p.grpcAddress) });
    try {
      const attempts: Record<string, number> = {};
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) {
          const ids = [0, 1, 2, 3].map((k) => `m-${i}-${j}-${k}`).concat(`r-${i}-${j}`);
          for (const taskId of ids) {
            const { result } = await client.read({ type: "task", jobId, taskId });
            const t = result as { state: string; lastAttempt: number; live: unknown[] };
            expect(t.state, taskId).toBe("done");
            expect(t.live, taskId).toEqual([]);
            attempts[taskId] = t.lastAttempt;
          }
        }
      }
      expect(Object.values(attempts).every((a) => a === 1)).toBe(true);
    } finally {
      client.close();
    }

    // The result is right (Freivalds over CRC-verified reads) and the manifest's digest is
    // the digest of the stored output tiles.
    const store = new FsObjectStore({ root: storeDir });
    const result = await verifyJob(spec, async (i, j) => {
      const bytes = await store.get(outputKey(jobId, i, j));
      return decodeTile(bytes, { rows: spec.tile, cols: spec.tile }).data;
    });
    expect(result.failures).toEqual([]);
    expect(result.verified).toBe(true);
    const crcs: string[][] = [];
    for (let i = 0; i < 4; i++) {
      crcs.push([]);
      for (let j = 0; j < 4; j++) {
        const head = await store.head(outputKey(jobId, i, j));
        crcs[i]?.push(head?.checksum ?? "");
      }
    }
    const digest = jobOutputDigest(spec, (i, j) => crcs[i]?.[j] ?? "");
    expect(job.outputDigest).toBe(digest);
    const verifier = new ManifestClient({ peers: cluster.peers.map((p) => p.grpcAddress) });
    try {
      const r = await verifier.propose({ type: "job-verified", jobId, verified: true, digest });
      expect(r.reply).toMatchObject({ ok: true });
    } finally {
      verifier.close();
    }
    await waitFor(
      "job succeeded",
      async () => {
        const { body } = await getJson(`${peer.httpUrl}/v1/jobs/${jobId}?consistency=stale`);
        return (body as { state: string }).state === "succeeded" ? true : undefined;
      },
      30_000,
    );

    // Published once: the work stream stored exactly one item per task that was not handed
    // over (every other publish, by any of the three instances, was dropped by msg-id dedup).
    // Work-queue retention deletes acked items, but the stream's last sequence counts every
    // item ever stored.
    const nc = await connect({ servers: nats.url, name: "scheduler-e2e-check" });
    try {
      const jsm = await jetstreamManager(nc);
      // Reduces were armed (attempt-start whenReady while their maps ran; on by default) and
      // started by the completion of their last map, each exactly once, across the restart.
      // Those the leader handed to the agent that reported that map straight to it (agents'
      // direct reports, on by default) were never published.
      const reduceStarts = (await committedEvents(nc, jsm)).flatMap((e) =>
        e.category === "task" && e.type === "started" && e.jobId === jobId && e.kind === "reduce"
          ? [e]
          : [],
      );
      expect(reduceStarts).toHaveLength(16);
      const armed = reduceStarts.filter((e) => e.armed === true);
      expect(armed.length).toBeGreaterThan(0);
      const handed = reduceStarts.filter((e) => e.handed === true);
      for (const e of handed) expect(e.nodeId, e.taskId).toMatch(/^agent-/);
      const info = await jsm.streams.info(WORK_STREAM.name);
      expect(info.state.last_seq).toBe(80 - handed.length);
      console.log(
        `[scheduler e2e] reduces started armed: ${armed.length} of 16, handed over: ${handed.length}`,
      );
    } finally {
      await closeGracefully(nc);
    }
    // What two racing instances cost (printed, not asserted: it depends on timing).
    const proposals: Record<string, Record<string, number>> = {};
    for (const s of survivors) {
      // The fresh instance may still be starting when a fast job is already done.
      const text = await waitFor(
        `${s.name} serving /metrics`,
        async () =>
          fetch(`http://127.0.0.1:${s.httpPort}/metrics`).then(
            (r) => (r.ok ? r.text() : undefined),
            () => undefined,
          ),
        60_000,
      );
      for (const m of text.matchAll(/^tessera_scheduler_proposals_total\{([^}]*)\} (\d+)/gm)) {
        const labels = Object.fromEntries(
          [...(m[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
        );
        const key = `${labels.command}:${labels.outcome}${labels.code ? `:${labels.code}` : ""}`;
        const mine = proposals[s.name] ?? {};
        mine[key] = Number(m[2]);
        proposals[s.name] = mine;
      }
    }
    console.log(JSON.stringify({ e2e: "matmul n=256 tile=64", computedMs, proposals }));
    // The fresh instance rebuilt its view from the manifest once, at start.
    await waitFor(
      "sched-c's start-up rebuild",
      async () => {
        const metrics = await (await fetch(`http://127.0.0.1:${fresh.httpPort}/metrics`)).text();
        return /tessera_scheduler_rebuilds_total\{[^}]*reason="start"[^}]*\} 1/.test(metrics)
          ? true
          : undefined;
      },
      60_000,
    );

    // Nothing decided is left holding capacity once the job is over (a leaked pending start
    // would keep its node "busy" for good).
    for (const s of survivors) {
      await waitFor(
        `${s.name} holds no pending starts`,
        async () => {
          const metrics = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
          return /^tessera_scheduler_pending_starts\{[^}]*\} 0$/m.test(metrics) ? true : undefined;
        },
        30_000,
      );
    }

    // SIGTERM: a clean stop.
    const exits = survivors.map(
      (s) => new Promise<number | null>((resolve) => s.proc.once("exit", (code) => resolve(code))),
    );
    for (const s of survivors) s.proc.kill("SIGTERM");
    expect(await Promise.all(exits)).toEqual([0, 0]);
  }, 400_000);

  // Whether the victim held an attempt at the kill depends on timing (items take ~100 ms here),
  // so expiry itself is asserted in the planner's unit tests; this proves the job survives.
  it("an agent SIGKILLed mid-job: the manifest fails the node, the job completes on the other agent and verifies", async () => {
    const consensus = cluster.peers.map((p) => p.httpUrl).join(",");
    const [port] = await freePorts(1);
    const sched = startScheduler("sched-d", port as number, consensus);
    await waitFor(
      "sched-d /readyz",
      async () =>
        (await getJson(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined,
      60_000,
    );
    const peer = (await cluster.waitForLeader()).peer;
    const jobId = "mm-agent-kill";
    const spec = { n: 256, tile: 64, mode: "exact" as const, seed: 12 };
    const res = await fetch(`${peer.httpUrl}/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jobId, spec }),
    });
    expect([200, 201]).toContain(res.status);
    const jobUrl = `${peer.httpUrl}/v1/jobs/${jobId}?consistency=stale`;
    await waitFor(
      "some maps done",
      async () =>
        ((await getJson(jobUrl)).body as { counts: { mapsDone: number } }).counts.mapsDone >= 8
          ? true
          : undefined,
      120_000,
    );
    const victim = procs.find((p) => p.name === "agent-1") as Proc;
    victim.proc.kill("SIGKILL");
    const job = await waitFor(
      "job computed with one agent left",
      async () => {
        const j = (await getJson(jobUrl)).body as { state: string; outputDigest: string | null };
        if (j.state === "failed" || j.state === "cancelled")
          throw new Error(`job ended ${j.state}`);
        return j.state === "verifying" ? j : undefined;
      },
      240_000,
    );
    const store = new FsObjectStore({ root: storeDir });
    const result = await verifyJob(spec, async (i, j) => {
      const bytes = await store.get(outputKey(jobId, i, j));
      return decodeTile(bytes, { rows: spec.tile, cols: spec.tile }).data;
    });
    expect(result.verified).toBe(true);
    expect(job.outputDigest).toMatch(/^[0-9a-f]{64}$/);
    // The job may finish before failure detection fires (heartbeats every 1 s, declared failed
    // within ~2 s): wait for the manifest to fail the node rather than race the job against it.
    await waitFor(
      "agent-1 failed in the manifest",
      async () => {
        const { body } = await getJson(`${peer.httpUrl}/v1/nodes?consistency=stale`);
        const nodes = (body as { nodes: { nodeId: string; state: string }[] }).nodes;
        return nodes.find((n) => n.nodeId === "agent-1")?.state === "failed" ? true : undefined;
      },
      10_000,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const expired = /^tessera_scheduler_decisions_total\{[^}]*type="expire"[^}]*\} (\d+)/m.exec(
      metrics,
    );
    console.log(
      JSON.stringify({ e2e: "agent SIGKILL", schedulerExpiries: Number(expired?.[1] ?? 0) }),
    );
    const exit = new Promise<number | null>((resolve) =>
      sched.proc.once("exit", (code) => resolve(code)),
    );
    sched.proc.kill("SIGTERM");
    expect(await exit).toBe(0);
  }, 400_000);

  it("an attempt bound to a live agent that never received it (a lost hand-over) is expired and rerun", async () => {
    const consensus = cluster.peers.map((p) => p.httpUrl).join(",");
    const peer = (await cluster.waitForLeader()).peer;
    const jobId = "mm-lost-handover";
    const spec = { n: 128, tile: 64, mode: "exact" as const, seed: 13 };
    const res = await fetch(`${peer.httpUrl}/v1/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jobId, spec }),
    });
    expect([200, 201]).toContain(res.status);
    // What a report whose reply was lost (and whose re-asks found no leader) leaves behind: the
    // manifest binds attempt 1 of a map to agent-2, no work item exists, agent-2 never heard of it.
    // Deadlines would end it only after the initial deadline (600 s here).
    const client = new ManifestClient({ peers: cluster.peers.map((p) => p.grpcAddress) });
    try {
      const bound = await client.propose({
        type: "attempt-start",
        jobId,
        taskId: "m-0-0-0",
        attempt: 1,
        nodeId: "agent-2",
      });
      expect(bound.reply).toMatchObject({ ok: true });
      const [port] = await freePorts(1);
      const sched = startScheduler("sched-e", port as number, consensus, [
        "--unlisted-after-ms",
        "1500",
      ]);
      const jobUrl = `${peer.httpUrl}/v1/jobs/${jobId}?consistency=stale`;
      await waitFor(
        "job computed",
        async () => {
          const j = (await getJson(jobUrl)).body as { state: string };
          if (j.state === "failed" || j.state === "cancelled")
            throw new Error(`job ended ${j.state}`);
          return j.state === "verifying" ? j : undefined;
        },
        120_000,
      );
      const { result } = await client.read({ type: "task", jobId, taskId: "m-0-0-0" });
      expect(result).toMatchObject({ state: "done", lastAttempt: 2 });
      const nc = await connect({ servers: nats.url, name: "scheduler-e2e-lost-handover" });
      try {
        const expiries = (await committedEvents(nc, await jetstreamManager(nc))).filter(
          (e) => e.category === "task" && e.type === "attempt-expired" && e.jobId === jobId,
        );
        expect(expiries).toHaveLength(1);
        expect(expiries[0]).toMatchObject({ taskId: "m-0-0-0", attempt: 1 });
        expect((expiries[0] as { reason: string }).reason).toMatch(
          /^node agent-2 does not hold attempt 1: /,
        );
      } finally {
        await closeGracefully(nc);
      }
      const store = new FsObjectStore({ root: storeDir });
      const verified = await verifyJob(spec, async (i, j) => {
        const bytes = await store.get(outputKey(jobId, i, j));
        return decodeTile(bytes, { rows: spec.tile, cols: spec.tile }).data;
      });
      expect(verified.verified).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(
        /^tessera_scheduler_expiries_total\{[^}]*cause="not-held"[^}]*\} 1$/m,
      );
      const exit = new Promise<number | null>((resolve) =>
        sched.proc.once("exit", (code) => resolve(code)),
      );
      sched.proc.kill("SIGTERM");
      expect(await exit).toBe(0);
    } finally {
      client.close();
    }
  }, 300_000);
});
