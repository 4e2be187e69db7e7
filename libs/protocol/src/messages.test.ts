import { describe, expect, it } from "vitest";
import {
  type CompletionV1,
  decodeAgentControlReply,
  decodeAgentControlRequest,
  decodeCompletion,
  decodeCompletionBatch,
  decodeHeartbeat,
  decodeWorkBatch,
  decodeWorkItem,
  encodeAgentControlReply,
  encodeAgentControlRequest,
  encodeCompletion,
  encodeCompletionBatch,
  encodeWorkBatch,
  encodeWorkItem,
  type HeartbeatV1,
  ProtocolDecodeError,
  type ProtocolValidationError,
  parseJobSpec,
  type WorkItemV1,
  workItemCodec,
} from "./index.js";

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

function mapItem(over: Partial<WorkItemV1> = {}): WorkItemV1 {
  return {
    v: 1,
    itemId: "job-1/m-1-2-3/1",
    jobId: "job-1",
    taskId: "m-1-2-3",
    attempt: 1,
    kind: "map",
    job: { n: 256, tile: 64, mode: "exact", seed: 7 },
    i: 1,
    j: 2,
    k: 3,
    pool: "cpu",
    issuedAt: 1_700_000_000_000,
    ...over,
  };
}

function rejection(value: unknown): ProtocolValidationError {
  const result = workItemCodec.check(value);
  if (result.ok) throw new Error("expected a rejection");
  return result.error;
}

describe("work item validation", () => {
  it("accepts a valid map item and round-trips through bytes", () => {
    const item = mapItem();
    expect(decodeWorkItem(encodeWorkItem(item))).toEqual(item);
  });

  it("accepts a valid reduce item", () => {
    const item = mapItem({ kind: "reduce", taskId: "r-1-2", itemId: "job-1/r-1-2/2", attempt: 2 });
    delete item.k;
    expect(decodeWorkItem(bytes(item)).kind).toBe("reduce");
  });

  it("names the field path and reason for a non-power-of-two tile", () => {
    const err = rejection(mapItem({ job: { n: 240, tile: 48, mode: "exact", seed: 1 } }));
    expect(err.code).toBe("TESSERA_E_PROTOCOL_INVALID");
    expect(err.message).toBe("work item: /job/tile: must be a power of two between 16 and 8192");
  });

  it("rejects an out-of-range tile with the domain reason", () => {
    expect(rejection(mapItem({ job: { n: 256, tile: 8, mode: "exact", seed: 1 } })).message).toBe(
      "work item: /job/tile: must be a power of two between 16 and 8192",
    );
  });

  it("rejects a tile that does not divide n", () => {
    expect(rejection(mapItem({ job: { n: 100, tile: 16, mode: "exact", seed: 1 } })).message).toBe(
      "work item: /job/tile: must divide n (100)",
    );
  });

  it("rejects coordinates outside the tile grid", () => {
    const err = rejection(mapItem({ i: 4, taskId: "m-4-2-3", itemId: "job-1/m-4-2-3/1" }));
    expect(err.issues).toEqual([{ path: "/i", reason: "must be < n/tile (4), got 4" }]);
  });

  it("bounds a map's k by the groups of kPerMap and refuses a kPerMap that does not divide n/tile", () => {
    const grouped = { n: 256, tile: 64, mode: "exact" as const, seed: 7, kPerMap: 2 };
    const ok = mapItem({ job: grouped, k: 1, taskId: "m-1-2-1", itemId: "job-1/m-1-2-1/1" });
    expect(decodeWorkItem(encodeWorkItem(ok))).toEqual(ok);
    expect(rejection(mapItem({ job: grouped })).issues).toEqual([
      { path: "/k", reason: "must be < n/tile/kPerMap (2), got 3" },
    ]);
    expect(rejection(mapItem({ job: { ...grouped, kPerMap: 3 } })).message).toBe(
      "work item: /job/kPerMap: must divide the tiles per side n/tile (4)",
    );
    expect(rejection(mapItem({ job: { ...grouped, kPerMap: 0 } })).message).toBe(
      "work item: /job/kPerMap: must be a positive integer",
    );
    const huge = { n: 65536, tile: 4096, mode: "exact" as const, seed: 7, kPerMap: 8 };
    expect(rejection(mapItem({ job: huge })).message).toBe(
      "work item: /job/kPerMap: kPerMap·tile² must be ≤ 67108864 (a map's packed operand ≤ 256 MiB)",
    );
  });

  it("requires k on map and forbids it on reduce", () => {
    const noK = mapItem();
    delete noK.k;
    expect(rejection(noK).message).toBe("work item: /k: is required for a map item");
    const reduceWithK = mapItem({ kind: "reduce", taskId: "r-1-2", itemId: "job-1/r-1-2/1" });
    expect(rejection(reduceWithK).message).toBe("work item: /k: must be absent for a reduce item");
  });

  it("checks taskId and itemId against the coordinates", () => {
    expect(rejection(mapItem({ taskId: "m-9-9-9" })).issues[0]).toEqual({
      path: "/taskId",
      reason: 'must be "m-1-2-3" for this map item',
    });
    expect(rejection(mapItem({ itemId: "x" })).issues[0]?.path).toBe("/itemId");
  });

  it("reports missing and unknown fields", () => {
    const { pool: _pool, ...noPool } = mapItem();
    expect(rejection(noPool).message).toBe("work item: /pool: is required");
    expect(rejection({ ...mapItem(), extra: 1 }).message).toBe(
      "work item: /extra: is not an allowed field",
    );
    expect(rejection(mapItem({ jobId: "bad id!" })).message).toBe(
      "work item: /jobId: must be 1..64 characters of [A-Za-z0-9._-]",
    );
  });

  it("rejects an unknown version by name", () => {
    expect(rejection({ ...mapItem(), v: 2 }).message).toBe(
      "work item: /v: unsupported version 2 (supported: 1)",
    );
    expect(rejection([]).message).toBe("work item: /: must be a JSON object");
  });

  it("rejects oversized and non-JSON payloads with a typed error", () => {
    const big = new Uint8Array(2048).fill(0x20);
    expect(() => decodeWorkItem(big, 1024)).toThrow(
      "work item: message of 2048 bytes exceeds the limit of 1024 bytes",
    );
    try {
      decodeWorkItem(new TextEncoder().encode("{nope"));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolDecodeError);
      expect((e as ProtocolDecodeError).code).toBe("TESSERA_E_PROTOCOL_MALFORMED");
    }
    expect(() => decodeWorkItem(new Uint8Array([0xff, 0xfe]))).toThrow("not valid UTF-8");
  });

  it("refuses to encode an invalid item (producer bugs surface at the source)", () => {
    expect(() => encodeWorkItem(mapItem({ attempt: 0 }))).toThrow(
      "work item: /attempt: must be an integer >= 1",
    );
  });
});

describe("completion validation", () => {
  const ok: CompletionV1 = {
    v: 1,
    itemId: "job-1/r-0-0/1",
    jobId: "job-1",
    taskId: "r-0-0",
    attempt: 1,
    kind: "reduce",
    nodeId: "agent-1",
    status: "ok",
    output: { uri: "file:///tmp/x", key: "jobs/job-1/C/0-0.tile", checksum: "0a1b2c3d", bytes: 64 },
    timings: { readMs: 1, computeMs: 2.5, writeMs: 1, totalMs: 4.5 },
    executionProvider: "cpu",
    completedAt: 1_700_000_000_000,
  };

  it("round-trips a valid completion", () => {
    expect(decodeCompletion(encodeCompletion(ok))).toEqual(ok);
  });

  it("requires output when ok and error when failed", () => {
    const { output: _o, ...noOutput } = ok;
    expect(() => decodeCompletion(bytes(noOutput))).toThrow(
      'completion: /output: is required when status is "ok"',
    );
    expect(() => decodeCompletion(bytes({ ...noOutput, status: "failed" }))).toThrow(
      'completion: /error: is required when status is "failed"',
    );
  });

  it("rejects a checksum that is not 8 lowercase hex chars", () => {
    const bad = { ...ok, output: { ...ok.output, checksum: "0A1B2C3D" } };
    expect(() => decodeCompletion(bytes(bad))).toThrow(
      "completion: /output/checksum: must be a CRC32C as 8 lowercase hex characters",
    );
  });
});

describe("work batch and completion batch validation", () => {
  const items = [mapItem(), mapItem({ itemId: "job-1/m-1-2-0/1", taskId: "m-1-2-0", k: 0 })];
  const batch = { v: 1 as const, batchId: "job-1/m-1-2-3/1", jobId: "job-1", pool: "cpu", items };

  it("round-trips a batch and names the item and field of a bad one", () => {
    expect(decodeWorkBatch(encodeWorkBatch(batch))).toEqual(batch);
    expect(() =>
      decodeWorkBatch(bytes({ ...batch, items: [items[0], { ...mapItem(), k: 9 }] })),
    ).toThrow("work batch: /items/1/k: must be < n/tile (4), got 9");
  });

  it("refuses a batch mixing jobs or pools, repeating an item, or empty", () => {
    const otherJob = mapItem({ jobId: "job-2", itemId: "job-2/m-1-2-3/1" });
    expect(() => decodeWorkBatch(bytes({ ...batch, items: [items[0], otherJob] }))).toThrow(
      `work batch: /items/1/jobId: must be the batch's job "job-1"`,
    );
    expect(() => decodeWorkBatch(bytes({ ...batch, items: [mapItem({ pool: "gpu" })] }))).toThrow(
      `/items/0/pool: must be the batch's pool "cpu"`,
    );
    expect(() => decodeWorkBatch(bytes({ ...batch, items: [items[0], items[0]] }))).toThrow(
      "/items/1/itemId: repeats job-1/m-1-2-3/1",
    );
    expect(() => decodeWorkBatch(bytes({ ...batch, items: [] }))).toThrow(/\/items/);
  });

  it("round-trips a completion batch and refuses completions of another node", () => {
    const c: CompletionV1 = {
      v: 1,
      itemId: "job-1/m-1-2-3/1",
      jobId: "job-1",
      taskId: "m-1-2-3",
      attempt: 1,
      kind: "map",
      nodeId: "agent-1",
      status: "ok",
      output: {
        uri: "empty:jobs/job-1/partials/1-2-3.tile",
        key: "jobs/job-1/partials/1-2-3.tile",
        checksum: "00000000",
        bytes: 0,
      },
      timings: { readMs: 0, computeMs: 0, writeMs: 0, totalMs: 0 },
      executionProvider: "cpu",
      completedAt: 1_700_000_000_000,
    };
    const cb = { v: 1 as const, batchId: "job-1/m-1-2-3/1", nodeId: "agent-1", completions: [c] };
    expect(decodeCompletionBatch(encodeCompletionBatch(cb))).toEqual(cb);
    expect(() =>
      decodeCompletionBatch(bytes({ ...cb, completions: [{ ...c, nodeId: "agent-2" }] })),
    ).toThrow(`completion batch: /completions/0/nodeId: must be the batch's node "agent-1"`);
  });
});

describe("heartbeat validation", () => {
  const hb: HeartbeatV1 = {
    v: 1,
    nodeId: "agent-1",
    seq: 3,
    sentAt: 1_700_000_000_000,
    labels: { cloud: "local", region: "r1", zone: "z1", pool: "cpu" },
    capacity: { slots: 2, cpus: 2, memoryBytes: 1 << 30, gpus: 0 },
    executionProvider: "cpu",
    state: "active",
    running: [{ jobId: "job-1", taskId: "m-0-0-0", attempt: 1, startedAt: 1_700_000_000_000 }],
  };

  it("accepts a valid heartbeat and names a bad nested field", () => {
    expect(decodeHeartbeat(bytes(hb))).toEqual(hb);
    expect(() => decodeHeartbeat(bytes({ ...hb, state: "asleep" }))).toThrow(
      'heartbeat: /state: must be "active", "standby" or "draining"',
    );
    const badRunning = { ...hb, running: [{ ...hb.running[0], attempt: -1 }] };
    expect(() => decodeHeartbeat(bytes(badRunning))).toThrow(
      "heartbeat: /running/0/attempt: must be an integer >= 1",
    );
  });
});

describe("job spec", () => {
  it("parses a valid spec and rejects n out of range", () => {
    expect(parseJobSpec({ n: 1024, tile: 256, mode: "float", seed: 0 }).n).toBe(1024);
    expect(() => parseJobSpec({ n: 2 ** 21, tile: 256, mode: "float", seed: 0 })).toThrow(
      "job spec: /n: must be an integer in 1..1048576",
    );
    expect(() => parseJobSpec({ n: 1024, tile: 256, mode: "float", seed: -1 })).toThrow(
      "job spec: /seed: must be an unsigned 32-bit integer",
    );
  });
});

describe("agent control messages", () => {
  it("round-trips a promote request and its reply", () => {
    const req = { v: 1 as const, op: "promote" as const, by: "cli" };
    expect(decodeAgentControlRequest(encodeAgentControlRequest(req))).toEqual(req);
    const reply = { v: 1 as const, nodeId: "agent-3", state: "active" as const, changed: true };
    expect(decodeAgentControlReply(encodeAgentControlReply(reply))).toEqual(reply);
  });

  it("names the field of a bad request", () => {
    expect(() => decodeAgentControlRequest(bytes({ v: 1, op: "reboot" }))).toThrow(
      'agent control request: /op: must be "promote"',
    );
    expect(() => decodeAgentControlRequest(bytes({ v: 2, op: "promote" }))).toThrow(
      "agent control request",
    );
    expect(() =>
      decodeAgentControlReply(bytes({ v: 1, nodeId: "a", state: "asleep", changed: false })),
    ).toThrow('agent control reply: /state: must be "active", "standby" or "draining"');
  });
});
