// The storage-manager against a real nats-server (JetStream) and real fs storage: committed
// events are published on TESSERA_EVENTS the way the consensus leader publishes them, and the
// manager's proposals are read back from TESSERA_CMD.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { type NatsServer, startNatsServer, waitFor } from "@tessera/harness";
import {
  encodeTile,
  generateTileA,
  generateTileB,
  jobOutputDigest,
  type MatmulJobSpec,
  outputKey,
  partialKey,
  referenceOutputTile,
  tileGemm,
} from "@tessera/matrix";
import {
  connect,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  provisionStreams,
  publishWithDedup,
} from "@tessera/messaging";
import { createLogger } from "@tessera/observability";
import { CMD_STREAM, EVENTS_STREAM, eventSubject, MANIFEST_COMMAND_TYPES } from "@tessera/protocol";
import { createObjectStore, type ObjectStore } from "@tessera/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStorageManagerConfig } from "./config.js";
import { StorageManager } from "./manager.js";

const spec: MatmulJobSpec = { n: 64, tile: 32, mode: "exact", seed: 11 };
const K = 2;

interface Proposed {
  subject: string;
  clientId: string;
  seq: number;
  cmd: Record<string, unknown> & { type: string; jobId: string };
}

describe("storage-manager (real NATS + fs storage)", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  let store: ObjectStore;
  let manager: StorageManager;
  let index = 0;
  const proposals: Proposed[] = [];
  const cChecksums = new Map<string, string>();
  let collecting = true;

  async function publishEvents(events: Record<string, unknown>[]): Promise<void> {
    index++;
    const first = events[0] as { category: string; type: string };
    const body = { v: 1, index, term: 1, at: Date.now(), events };
    await publishWithDedup(
      jetstream(nc),
      eventSubject(`${first.category}.${first.type}`),
      JSON.stringify(body),
      String(index),
    );
  }

  async function putTile(key: string, data: Float32Array) {
    return store.put(key, encodeTile(data, { rows: spec.tile, cols: spec.tile, mode: "exact" }));
  }

  function completed(
    jobId: string,
    taskId: string,
    out: { uri: string; checksum: string; bytes: number },
  ) {
    return {
      category: "task",
      type: "completed",
      jobId,
      taskId,
      attempt: 1,
      kind: taskId.startsWith("m-") ? "map" : "reduce",
      nodeId: "agent-1",
      output: { uri: out.uri, checksum: out.checksum, bytes: out.bytes },
    };
  }

  /** Writes a job's partials and output tiles; `wrongC` gets one element off by one. */
  async function writeJob(jobId: string, wrongC?: [number, number]) {
    const events: Record<string, unknown>[] = [];
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        for (let k = 0; k < K; k++) {
          const p = tileGemm(generateTileA(spec, i, k), generateTileB(spec, k, j), spec.tile);
          events.push(
            completed(jobId, `m-${i}-${j}-${k}`, await putTile(partialKey(jobId, i, j, k), p)),
          );
        }
      }
    }
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const c = referenceOutputTile(spec, i, j);
        if (wrongC && wrongC[0] === i && wrongC[1] === j) c[5] = c[5]! + 1;
        const r = await putTile(outputKey(jobId, i, j), c);
        if (!wrongC) cChecksums.set(`${i}-${j}`, r.checksum);
        events.push(completed(jobId, `r-${i}-${j}`, r));
      }
    }
    return events;
  }

  const submitted = (jobId: string) => ({
    category: "job",
    type: "submitted",
    jobId,
    spec,
    maps: K * K * K,
    reduces: K * K,
    maxAttempts: 4,
  });

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), "tessera-sm-"));
    store = createObjectStore({ backend: "fs", root: join(dir, "storage") });
    nc = await connect({ servers: nats.url, name: "sm-test" });
    await provisionStreams(await jetstreamManager(nc), {
      replicas: 1,
      streams: [CMD_STREAM, EVENTS_STREAM],
    });
    // Collect every proposal the manager publishes (explicit acks: nats-server 2.9).
    const info = await (await jetstreamManager(nc)).consumers.add(CMD_STREAM.name, {
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: "tessera.cmd.storage.>",
      inactive_threshold: nanos(60_000),
    });
    const consumer = await jetstream(nc).consumers.get(CMD_STREAM.name, info.name);
    void (async () => {
      while (collecting) {
        try {
          for await (const m of await consumer.fetch({ max_messages: 100, expires: 1_000 })) {
            const env = JSON.parse(new TextDecoder().decode(m.data)) as Omit<Proposed, "subject">;
            proposals.push({ subject: m.subject, ...env });
            m.ack();
          }
        } catch {
          // connection closing at the end of the suite
        }
      }
    })();
    const config = parseStorageManagerConfig(
      // Full checks: this suite asserts that a partial whose bytes rotted is caught at check time.
      [
        ...["--nats", nats.url, "--storage", `fs:${join(dir, "storage")}`],
        ...["--http", "127.0.0.1:0", "--check-mode", "full"],
      ],
      {},
    );
    manager = await StorageManager.start(
      config,
      createLogger({
        service: "storage-manager-test",
        level: (process.env.SM_TEST_LOG as "info" | undefined) ?? "warn",
      }),
      {},
      {
        knownCommandTypes: [
          ...MANIFEST_COMMAND_TYPES,
          "job-verified",
          "task-reset",
          "output-verified",
        ],
      },
    );
  });

  afterAll(async () => {
    await manager?.stop();
    collecting = false;
    if (nc) await nc.close();
    await store?.close();
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const find = (type: string, jobId: string) =>
    proposals.filter((p) => p.cmd.type === type && p.cmd.jobId === jobId);
  /** Tasks whose outputs were proposed verified (gathered into outputs-verified commands). */
  const verifiedTasks = (jobId: string) =>
    find("outputs-verified", jobId).flatMap(
      (p) => (p.cmd as unknown as { outputs: { taskId: string; attempt: number }[] }).outputs,
    );

  it("checks every output and proposes job-verified with the output digest", async () => {
    await publishEvents([submitted("good")]);
    const events = await writeJob("good");
    await publishEvents(events.slice(0, 5));
    await publishEvents(events.slice(5));
    await waitFor(
      "job-verified for good",
      async () => find("job-verified", "good").length > 0,
      60_000,
    );
    const expected = jobOutputDigest(spec, (i, j) => cChecksums.get(`${i}-${j}`)!);
    expect(find("job-verified", "good")[0]!.cmd).toEqual({
      type: "job-verified",
      jobId: "good",
      verified: true,
      digest: expected,
    });
    await waitFor("12 outputs verified", async () => verifiedTasks("good").length === 12, 30_000);
    // Gathered: far fewer commands than outputs, each output once, with its attempt.
    expect(find("outputs-verified", "good").length).toBeLessThan(12);
    expect(new Set(verifiedTasks("good").map((o) => o.taskId)).size).toBe(12);
    expect(verifiedTasks("good").every((o) => o.attempt === 1)).toBe(true);
    expect(find("output-verified", "good")).toEqual([]);
    const v = find("job-verified", "good")[0]!;
    expect(v.subject).toBe("tessera.cmd.storage.job-verified");
    // One session, seqs in publish order.
    const seqs = proposals.filter((p) => p.clientId === v.clientId).map((p) => p.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));

    const res = await fetch(`${manager.httpAddress()}/v1/jobs/good`);
    expect(res.status).toBe(200);
    const view = (await res.json()) as Record<string, unknown>;
    expect(view).toMatchObject({
      jobId: "good",
      outputsChecked: 12,
      verify: "proposed",
      verdict: { verified: true, digest: expected },
    });
    const outputs = (await (
      await fetch(`${manager.httpAddress()}/v1/jobs/good/outputs`)
    ).json()) as {
      stored: unknown[];
      partialsStored: number;
    };
    expect(outputs.stored).toHaveLength(4);
    expect(outputs.partialsStored).toBe(8);
  });

  it("deletes a job's partials once it succeeded, and keeps its outputs", async () => {
    await publishEvents([
      { category: "job", type: "succeeded", jobId: "good", outputDigest: "a".repeat(64) },
    ]);
    await waitFor(
      "partials of good deleted",
      async () => {
        for await (const _ of store.list("jobs/good/partials/")) return false;
        return true;
      },
      30_000,
    );
    let outputs = 0;
    for await (const _ of store.list("jobs/good/C/")) outputs++;
    expect(outputs).toBe(4);
  });

  it("fails a job whose output has a wrong value (Freivalds, exact mode)", async () => {
    await publishEvents([submitted("wrong")]);
    await publishEvents(await writeJob("wrong", [0, 1]));
    await waitFor(
      "job-verified for wrong",
      async () => find("job-verified", "wrong").length > 0,
      60_000,
    );
    const cmd = find("job-verified", "wrong")[0]!.cmd;
    expect(cmd).toMatchObject({ type: "job-verified", jobId: "wrong", verified: false });
    expect(String(cmd.reason)).toMatch(
      /1 of 4 output tiles failed Freivalds verification: C\(0,1\)/,
    );
  });

  it("proposes task-reset for a stored partial whose bytes were corrupted", async () => {
    await publishEvents([submitted("corrupt")]);
    const p = tileGemm(generateTileA(spec, 0, 0), generateTileB(spec, 0, 0), spec.tile);
    const out = await putTile(partialKey("corrupt", 0, 0, 0), p);
    const file = fileURLToPath(out.uri);
    const bytes = readFileSync(file);
    bytes[200] = bytes[200]! ^ 0xff;
    writeFileSync(file, bytes);
    await publishEvents([completed("corrupt", "m-0-0-0", out)]);
    await waitFor(
      "task-reset for corrupt",
      async () => find("task-reset", "corrupt").length > 0,
      30_000,
    );
    expect(find("task-reset", "corrupt")[0]!.cmd).toMatchObject({
      type: "task-reset",
      jobId: "corrupt",
      taskId: "m-0-0-0",
      reason: expect.stringMatching(/failed a verified read/),
    });
    expect(verifiedTasks("corrupt").map((o) => o.taskId)).not.toContain("m-0-0-0");
  });

  it("serves health, readiness and tessera_storage_manager_* metrics", async () => {
    const base = manager.httpAddress();
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    await health.arrayBuffer();
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    await ready.arrayBuffer();
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(
      /tessera_storage_manager_jobs_verified_total\{[^}]*result="verified"[^}]*\} 1/,
    );
    expect(metrics).toMatch(/tessera_storage_manager_partials_deleted_total\{[^}]*\} 8/);
  });
});
