// Integration: real `node dist/main.js` agents against a real 3-node JetStream cluster, real fs
// storage. Build first (`pnpm build`): the agents run the built code.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { type NatsCluster, startNatsCluster } from "@tessera/harness";
import {
  decodeTile,
  inputKeyA,
  type MatmulJobSpec,
  mapTaskId,
  outputKey,
  partialKey,
  reduceTaskId,
  verifyJob,
} from "@tessera/matrix";
import {
  agentControlSubject,
  CMD_STREAM,
  type CompletionV1,
  decodeAgentControlReply,
  decodeCompletion,
  decodeHeartbeat,
  encodeAgentControlRequest,
  encodeWorkItem,
  type HeartbeatV1,
  SUBJECTS,
  type WorkItemV1,
  workItemMsgId,
  workSubject,
} from "@tessera/protocol";
import { FsObjectStore } from "@tessera/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentBus } from "./nats-bus.js";

const MAIN = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");
const ACK_WAIT_MS = 3_000;

let cluster: NatsCluster;
let nc: NatsConnection;
let workDir: string;
const agents: { proc: ChildProcess; nodeId: string; output: string[] }[] = [];
const completions: CompletionV1[] = [];
const heartbeats: HeartbeatV1[] = [];
const buses: AgentBus[] = [];

function startAgent(nodeId: string, pool: string, storageDir: string, extra: string[] = []) {
  const output: string[] = [];
  const proc = spawn(
    process.execPath,
    [
      MAIN,
      ...["--nats", cluster.urls.join(","), "--node-id", nodeId, "--pool", pool],
      ...["--storage", `fs:${storageDir}`, "--ep", "cpu", "--slots", "1"],
      ...["--ack-wait-ms", String(ACK_WAIT_MS), "--replicas", "3", "--heartbeat-ms", "50"],
      ...["--cloud", "test", "--region", "r1", "--zone", "r1-a"],
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  proc.stdout?.on("data", (d: Buffer) => output.push(d.toString()));
  proc.stderr?.on("data", (d: Buffer) => output.push(d.toString()));
  const agent = { proc, nodeId, output };
  agents.push(agent);
  return agent;
}

async function waitUntil<T>(
  what: string,
  probe: () => T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) {
      const logs = agents
        .map((a) => `--- ${a.nodeId}\n${a.output.join("").slice(-3000)}`)
        .join("\n");
      throw new Error(`timed out waiting for ${what}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The agent's /metrics etc. base URL, from its "agent started" log line (it binds port 0). */
async function httpOf(agent: { nodeId: string; output: string[] }): Promise<string> {
  return waitUntil(`${agent.nodeId}'s http address`, () => {
    const line = agent.output
      .join("")
      .split("\n")
      .find((l) => l.includes('"msg":"agent started"'));
    return line ? (JSON.parse(line) as { http?: string }).http : undefined;
  });
}

/** One sample's value from Prometheus text, by metric name and exact label set (0 if absent). */
async function metric(base: string, name: string, labels: Record<string, string>) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf("}"));
    const have = body.split(",").filter((l) => !/^(service|node|pool)=/.test(l));
    if (have.length === want.length && want.every((w) => have.includes(w))) {
      return Number(line.slice(line.indexOf("}") + 1));
    }
  }
  return 0;
}

const activeHeartbeat = (nodeId: string) => () =>
  heartbeats.find((h) => h.nodeId === nodeId && h.state === "active");

function workItem(
  jobId: string,
  job: MatmulJobSpec,
  pool: string,
  i: number,
  j: number,
  k?: number,
): WorkItemV1 {
  const taskId = k === undefined ? reduceTaskId(i, j) : mapTaskId(i, j, k);
  return {
    v: 1,
    itemId: `${jobId}/${taskId}/1`,
    jobId,
    taskId,
    attempt: 1,
    kind: k === undefined ? "reduce" : "map",
    job,
    i,
    j,
    ...(k === undefined ? {} : { k }),
    pool,
    issuedAt: Date.now(),
  };
}

async function publishWork(item: WorkItemV1) {
  await jetstream(nc).publish(workSubject(item.pool, item.kind), encodeWorkItem(item), {
    msgID: workItemMsgId(item.itemId),
  });
}

const completionsOf = (jobId: string) => completions.filter((c) => c.jobId === jobId);

async function flipByte(path: string, offset: number) {
  const fh = await open(path, "r+");
  try {
    const buf = Buffer.alloc(1);
    await fh.read(buf, 0, 1, offset);
    buf[0] = (buf[0] as number) ^ 0x5a;
    await fh.write(buf, 0, 1, offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

beforeAll(async () => {
  if (!existsSync(MAIN))
    throw new Error(`${MAIN} is missing: run \`pnpm build\` in services/agent first`);
  workDir = await mkdtemp(join(tmpdir(), "tessera-agent-it-"));
  cluster = await startNatsCluster({ size: 3 });
  await cluster.waitForMetaLeader();
  nc = await connect({ servers: [...cluster.urls] });
  // Provision as an operator would, R3 with a short ack wait so redelivery is quick.
  for (const pool of ["drain", "chaos", "corrupt", "standby", "int8", "float32"]) {
    const bus = await AgentBus.connect({
      servers: [...cluster.urls],
      name: `provision-${pool}`,
      pool,
      ackWaitMs: ACK_WAIT_MS,
      maxDeliver: 5,
      replicas: 3,
    });
    await bus.provision();
    buses.push(bus);
  }
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(CMD_STREAM.name, {
    durable_name: "test-completions",
    filter_subject: SUBJECTS.taskComplete,
    ack_policy: AckPolicy.Explicit,
  });
  const consumer = await jetstream(nc).consumers.get(CMD_STREAM.name, "test-completions");
  void (async () => {
    for await (const m of await consumer.consume()) {
      completions.push(decodeCompletion(m.data) as CompletionV1);
      m.ack();
    }
  })();
  nc.subscribe("tessera.hb.*", {
    callback: (_err, msg) => {
      heartbeats.push(decodeHeartbeat(msg.data) as HeartbeatV1);
    },
  });
}, 60_000);

afterAll(async () => {
  for (const a of agents)
    if (a.proc.exitCode === null && a.proc.signalCode === null) a.proc.kill("SIGKILL");
  for (const b of buses) await b.drain().catch(() => undefined);
  await nc?.close();
  await cluster?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("agents on a 3-node JetStream cluster", () => {
  it("two agents drain maps then reduces; every output tile verifies and SIGTERM drains cleanly", async () => {
    const storeDir = join(workDir, "drain");
    const store = new FsObjectStore({ root: storeDir });
    const a1 = startAgent("drain-1", "drain", storeDir);
    const a2 = startAgent("drain-2", "drain", storeDir);
    const hb = await waitUntil("heartbeats of both agents", () => {
      const h1 = activeHeartbeat("drain-1")();
      return h1 && activeHeartbeat("drain-2")() ? h1 : undefined;
    });
    expect(hb).toMatchObject({
      labels: { cloud: "test", region: "r1", zone: "r1-a", pool: "drain" },
      executionProvider: "cpu",
      capacity: { slots: 1 },
    });

    const job: MatmulJobSpec = { n: 256, tile: 64, mode: "exact", seed: 7 };
    const jobId = "drain-job";
    const K = job.n / job.tile;
    for (let i = 0; i < K; i++)
      for (let j = 0; j < K; j++)
        for (let k = 0; k < K; k++) await publishWork(workItem(jobId, job, "drain", i, j, k));
    await waitUntil(
      "all map completions",
      () => (completionsOf(jobId).length >= K ** 3 ? true : undefined),
      40_000,
    );
    for (let i = 0; i < K; i++)
      for (let j = 0; j < K; j++) await publishWork(workItem(jobId, job, "drain", i, j));
    await waitUntil("all reduce completions", () =>
      completionsOf(jobId).filter((c) => c.kind === "reduce").length >= K * K ? true : undefined,
    );

    const done = completionsOf(jobId);
    expect(done.filter((c) => c.status !== "ok")).toEqual([]);
    expect(new Set(done.map((c) => c.nodeId))).toEqual(new Set(["drain-1", "drain-2"]));
    for (const c of done) {
      const head = await store.head(c.output?.key ?? "");
      expect(head?.checksum, c.taskId).toBe(c.output?.checksum);
      expect(c.executionProvider).toBe("cpu");
    }
    const result = await verifyJob(job, async (i, j) => {
      const bytes = await store.get(outputKey(jobId, i, j)); // CRC32C-verified read
      return decodeTile(bytes, { rows: job.tile, cols: job.tile }).data;
    });
    expect(result.failures).toEqual([]);
    expect(result.verified).toBe(true);

    // Each agent's /metrics accounts for exactly the work it reported.
    for (const a of [a1, a2]) {
      const base = await httpOf(a);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const mine = done.filter((c) => c.nodeId === a.nodeId);
      for (const kind of ["map", "reduce"] as const) {
        expect(
          await metric(base, "tessera_agent_work_items_total", { kind, status: "ok" }),
          `${a.nodeId} ${kind}`,
        ).toBe(mine.filter((c) => c.kind === kind).length);
      }
      const written = mine.reduce((sum, c) => sum + (c.output?.bytes ?? 0), 0);
      // Outputs, plus any input tile this agent generated and stored first.
      expect(
        await metric(base, "tessera_storage_bytes_total", { backend: "fs", op: "write" }),
      ).toBeGreaterThanOrEqual(written);
      expect(
        await metric(base, "tessera_agent_work_item_seconds_count", {
          kind: "map",
          phase: "total",
        }),
      ).toBe(mine.filter((c) => c.kind === "map").length);
      // n = 256: exact mode's element bound (256) is too wide for 8 bits, so float32 ran.
      expect(
        await metric(base, "tessera_agent_kernel_gflops", { ep: "cpu", kernel: "float32" }),
      ).toBeGreaterThan(0);
      expect(await metric(base, "tessera_agent_heartbeats_sent_total", {})).toBeGreaterThan(0);
    }

    a1.proc.kill("SIGTERM");
    a2.proc.kill("SIGTERM");
    const codes = await Promise.all(
      [a1, a2].map(
        (a) =>
          new Promise<number | null>((resolve) => a.proc.once("exit", (code) => resolve(code))),
      ),
    );
    expect(codes).toEqual([0, 0]);
    expect(heartbeats.some((h) => h.nodeId === "drain-1" && h.state === "draining")).toBe(true);
    await store.close();
  });

  it("an agent SIGKILLed mid-task: the item is redelivered to the other and the output is byte-identical", async () => {
    const storeDir = join(workDir, "chaos");
    const store = new FsObjectStore({ root: storeDir });
    const x = startAgent("chaos-1", "chaos", storeDir);
    const y = startAgent("chaos-2", "chaos", storeDir);
    await waitUntil("chaos agents", () =>
      activeHeartbeat("chaos-1")() && activeHeartbeat("chaos-2")() ? true : undefined,
    );
    // Big enough (2048² tiles: generate, 17 GFLOP, 16 MiB fsync'd write) to be caught running.
    const job: MatmulJobSpec = { n: 4096, tile: 2048, mode: "exact", seed: 11 };
    await publishWork(workItem("chaos-job", job, "chaos", 1, 0, 1));
    const runningOn = await waitUntil("the item to be running", () =>
      heartbeats.find(
        (h) => h.nodeId.startsWith("chaos-") && h.running.some((r) => r.jobId === "chaos-job"),
      ),
    );
    const victim = runningOn.nodeId === "chaos-1" ? x : y;
    const survivor = victim === x ? y : x;
    victim.proc.kill("SIGKILL");
    const c = await waitUntil(
      "completion after redelivery",
      () => completionsOf("chaos-job").find((c) => c.status === "ok"),
      30_000,
    );
    expect(c.nodeId).toBe(survivor.nodeId);

    await publishWork(workItem("chaos-ref", job, "chaos", 1, 0, 1));
    const ref = await waitUntil("undisturbed run", () =>
      completionsOf("chaos-ref").find((c) => c.status === "ok"),
    );
    const disturbed = await store.get(partialKey("chaos-job", 1, 0, 1));
    const undisturbed = await store.get(partialKey("chaos-ref", 1, 0, 1));
    expect(c.output?.checksum).toBe(ref.output?.checksum);
    expect(Buffer.from(disturbed).equals(Buffer.from(undisturbed))).toBe(true);
    survivor.proc.kill("SIGTERM");
    await store.close();
  });

  it("an exact map computed in 8-bit integers is byte-identical to the float32 one (--int8 off)", async () => {
    const storeDir = join(workDir, "int8");
    const store = new FsObjectStore({ root: storeDir });
    const i8 = startAgent("int8-1", "int8", storeDir);
    const f32 = startAgent("float32-1", "float32", storeDir, ["--int8", "off"]);
    // n = 4096: elements within ±63, where the 8-bit GEMM is exact (int8-operands.ts).
    const job: MatmulJobSpec = { n: 4096, tile: 2048, mode: "exact", seed: 13 };
    await publishWork(workItem("int8-job", job, "int8", 0, 1, 1));
    await publishWork(workItem("float32-job", job, "float32", 0, 1, 1));
    const done = (jobId: string) => () => completionsOf(jobId).find((c) => c.status === "ok");
    const [ci, cf] = [
      await waitUntil("the 8-bit map", done("int8-job"), 30_000),
      await waitUntil("the float32 map", done("float32-job"), 30_000),
    ];
    expect(ci.output?.checksum).toBe(cf.output?.checksum);
    const a = await store.get(partialKey("int8-job", 0, 1, 1));
    const b = await store.get(partialKey("float32-job", 0, 1, 1));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const [bi, bf] = [await httpOf(i8), await httpOf(f32)];
    const gflops = (base: string, kernel: string) =>
      metric(base, "tessera_agent_kernel_gflops", { ep: "cpu", kernel });
    expect(await gflops(bi, "int8")).toBeGreaterThan(0);
    expect(await gflops(bi, "float32")).toBe(0);
    expect(await gflops(bf, "float32")).toBeGreaterThan(0);
    expect(await gflops(bf, "int8")).toBe(0);
    i8.proc.kill("SIGTERM");
    f32.proc.kill("SIGTERM");
    await store.close();
  });

  it("a warm standby offers no slots and pulls nothing until a promote request, then runs work", async () => {
    const storeDir = join(workDir, "standby");
    const agent = startAgent("standby-1", "standby", storeDir, ["--standby"]);
    const standbyBeat = await waitUntil("a standby heartbeat", () =>
      heartbeats.find((h) => h.nodeId === "standby-1" && h.state === "standby"),
    );
    expect(standbyBeat.capacity.slots, "a standby offers no capacity").toBe(0);
    const job: MatmulJobSpec = { n: 128, tile: 64, mode: "exact", seed: 5 };
    await publishWork(workItem("standby-job", job, "standby", 0, 0, 0));
    // Several heartbeats' worth of time: a standby must leave the item in the stream.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(completionsOf("standby-job")).toEqual([]);

    const ask = async (body: Uint8Array) =>
      decodeAgentControlReply((await nc.request(agentControlSubject("standby-1"), body)).data);
    expect(await ask(encodeAgentControlRequest({ v: 1, op: "promote", by: "test" }))).toEqual({
      v: 1,
      nodeId: "standby-1",
      state: "active",
      changed: true,
    });
    const done = await waitUntil("the item run after promotion", () =>
      completionsOf("standby-job").find((c) => c.status === "ok"),
    );
    expect(done.nodeId).toBe("standby-1");
    const activeBeat = await waitUntil("an active heartbeat", activeHeartbeat("standby-1"));
    expect(activeBeat.capacity.slots).toBe(1);
    // Promoting again changes nothing; a request that does not decode is answered, not fatal.
    expect(await ask(encodeAgentControlRequest({ v: 1, op: "promote" }))).toMatchObject({
      state: "active",
      changed: false,
    });
    const bad = await ask(new TextEncoder().encode('{"v":1,"op":"reboot"}'));
    expect(bad).toMatchObject({ state: "active", changed: false });
    expect(bad.error).toContain('/op: must be "promote"');
    expect(agent.output.join("")).toContain('"by":"test"');
    agent.proc.kill("SIGTERM");
  });

  it("a corrupted stored tile is detected on read: failed completion with the checksum code, no output", async () => {
    const storeDir = join(workDir, "corrupt");
    const store = new FsObjectStore({ root: storeDir });
    const a = startAgent("corrupt-1", "corrupt", storeDir);
    await waitUntil("corrupt agent", activeHeartbeat("corrupt-1"));
    const job: MatmulJobSpec = { n: 128, tile: 64, mode: "exact", seed: 3 };
    await publishWork(workItem("cj", job, "corrupt", 0, 0, 0));
    await publishWork(workItem("cj", job, "corrupt", 0, 0, 1));
    await waitUntil("maps", () => (completionsOf("cj").length >= 2 ? true : undefined));
    expect(completionsOf("cj").map((c) => c.status)).toEqual(["ok", "ok"]);

    // A partial rots on disk → the reduce must refuse it.
    await flipByte(join(storeDir, partialKey("cj", 0, 0, 1)), 64 + 123);
    await publishWork(workItem("cj", job, "corrupt", 0, 0));
    const reduce = await waitUntil("reduce completion", () =>
      completionsOf("cj").find((c) => c.kind === "reduce"),
    );
    expect(reduce).toMatchObject({
      status: "failed",
      error: { code: "TESSERA_E_STORAGE_CHECKSUM" },
    });
    expect(reduce.output).toBeUndefined();
    expect(await store.head(outputKey("cj", 0, 0))).toBeNull();
    const base = await httpOf(a);
    expect(
      await metric(base, "tessera_storage_checksum_mismatch_total", { backend: "fs" }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      await metric(base, "tessera_agent_work_items_total", { kind: "reduce", status: "failed" }),
    ).toBe(1);

    // An input tile rots → a map of another job over the same dataset must refuse it too. The
    // first agent keeps the inputs it verified in memory (a correct copy, so it would compute
    // the right product); a fresh agent has only the stored bytes, and must not use them.
    a.proc.kill("SIGTERM");
    await new Promise((r) => a.proc.once("exit", r));
    await flipByte(join(storeDir, inputKeyA(job, 0, 0)), 64 + 7);
    const fresh = startAgent("corrupt-2", "corrupt", storeDir);
    await waitUntil("fresh corrupt agent", activeHeartbeat("corrupt-2"));
    await publishWork(workItem("cj2", job, "corrupt", 0, 1, 0));
    const map = await waitUntil("map completion", () => completionsOf("cj2")[0]);
    expect(map).toMatchObject({ status: "failed", error: { code: "TESSERA_E_STORAGE_CHECKSUM" } });
    expect(await store.head(partialKey("cj2", 0, 1, 0))).toBeNull();
    // Terminated, not redelivered forever: no second report arrives.
    await new Promise((r) => setTimeout(r, ACK_WAIT_MS + 500));
    expect(completionsOf("cj2")).toHaveLength(1);
    fresh.proc.kill("SIGTERM");
    await store.close();
  });
});
