import { describe, expect, it } from "vitest";
import {
  type CommandEnvelopeV1,
  commandEnvelopeCodec,
  decodeCommandEnvelope,
  decodeManifestEventBatch,
  decodeManifestReply,
  encodeCommandEnvelope,
  encodeManifestEventBatch,
  encodeManifestReply,
  MANIFEST_COMMAND_TYPES,
  type ManifestCommand,
  type ManifestEventBatchV1,
  manifestEventBatchCodec,
  type ProtocolValidationError,
  requiredFeatureLevel,
} from "./index.js";

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

function env(cmd: unknown, over: Record<string, unknown> = {}): unknown {
  return { v: 1, clientId: "cli-1", seq: 1, cmd, ...over };
}

function rejection(value: unknown): ProtocolValidationError {
  const r = commandEnvelopeCodec.check(value);
  if (r.ok) throw new Error("expected a rejection");
  return r.error;
}

const spec = { n: 256, tile: 64, mode: "exact", seed: 1 };
const labels = { cloud: "local", region: "r1", zone: "z1", pool: "cpu" };
const capacity = { slots: 2, cpus: 4, memoryBytes: 1 << 30, gpus: 0 };

describe("manifest command envelope", () => {
  const valid: Record<string, unknown> = {
    "submit-job": { type: "submit-job", jobId: "j1", spec, maxAttempts: 3 },
    "job-control": { type: "job-control", jobId: "j1", action: "pause" },
    "emergency-stop": { type: "emergency-stop", engaged: true },
    "attempt-start": {
      type: "attempt-start",
      jobId: "j1",
      taskId: "m-0-1-2",
      attempt: 1,
      nodeId: "a-1",
      speculative: false,
      deadlineAt: 1_700_000_000_000,
    },
    "attempt-start-batch": {
      type: "attempt-start-batch",
      jobId: "j1",
      starts: [
        { taskId: "m-0-1-2", attempt: 1, deadlineAt: 1_700_000_000_000 },
        { taskId: "m-0-1-3", attempt: 2, nodeId: "a-1" },
      ],
    },
    "attempt-claim": {
      type: "attempt-claim",
      jobId: "j1",
      taskId: "r-0-1",
      attempt: 2,
      nodeId: "a",
    },
    "attempt-complete": {
      type: "attempt-complete",
      jobId: "j1",
      taskId: "r-0-1",
      attempt: 2,
      nodeId: "a",
      output: { uri: "file:///d/jobs/j1/C/0-1.tile", checksum: "0a1b2c3d", bytes: 100 },
      timings: { readMs: 1, computeMs: 2, writeMs: 3, totalMs: 6 },
    },
    "attempt-fail": {
      type: "attempt-fail",
      jobId: "j1",
      taskId: "m-0-0-0",
      attempt: 1,
      reason: "oom",
      retryable: true,
    },
    "attempt-report-batch": {
      type: "attempt-report-batch",
      reports: [
        {
          type: "attempt-fail",
          jobId: "j1",
          taskId: "m-0-0-0",
          attempt: 1,
          reason: "oom",
          retryable: true,
        },
      ],
    },
    "attempt-expire": {
      type: "attempt-expire",
      jobId: "j1",
      taskId: "m-0-0-0",
      attempt: 1,
      reason: "deadline",
    },
    "task-reset": {
      type: "task-reset",
      jobId: "j1",
      taskId: "m-0-1-2",
      reason: "checksum mismatch",
      attempt: 2,
    },
    "output-verified": { type: "output-verified", jobId: "j1", taskId: "r-0-1", attempt: 1 },
    "outputs-verified": {
      type: "outputs-verified",
      jobId: "j1",
      outputs: [{ taskId: "r-0-1", attempt: 1 }, { taskId: "m-0-1-2" }],
    },
    "job-verified": { type: "job-verified", jobId: "j1", verified: true, digest: "ab".repeat(32) },
    "node-upsert": {
      type: "node-upsert",
      nodeId: "a-1",
      labels,
      capacity,
      executionProvider: "cuda",
      at: 5,
    },
    "node-failed": { type: "node-failed", nodeId: "a-1", reason: "phi 9.1" },
    "node-drain": { type: "node-drain", nodeId: "a-1", drained: true, reason: "rack move" },
    "cluster-level": { type: "cluster-level", level: 2 },
    noop: { type: "noop" },
  };

  it("has a valid example of every command type, and each round-trips through bytes", () => {
    expect(Object.keys(valid).sort()).toEqual([...MANIFEST_COMMAND_TYPES].sort());
    for (const cmd of Object.values(valid)) {
      const e = env(cmd, { ackedSeq: 0 }) as CommandEnvelopeV1;
      expect(decodeCommandEnvelope(encodeCommandEnvelope(e))).toEqual(e);
    }
  });

  it("names the feature level a command needs", () => {
    expect(requiredFeatureLevel({ type: "node-drain", nodeId: "a-1", drained: true })).toEqual({
      level: 1,
      feature: "node-drain",
    });
    expect(requiredFeatureLevel(valid["node-drain"] as ManifestCommand)).toEqual({
      level: 2,
      feature: "node-drain's reason",
    });
    // The raise itself needs no level: it is how a cluster moves up.
    expect(requiredFeatureLevel({ type: "cluster-level", level: 2 }).level).toBe(1);
    expect(rejection(env({ type: "cluster-level", level: 0 })).message).toBe(
      "manifest command: /cmd/level: must be an integer between 1 and 65535",
    );
  });

  it("names an unknown command type with the accepted list", () => {
    const err = rejection(env({ type: "launch-missiles" }));
    expect(err.issues[0]?.path).toBe("/cmd/type");
    expect(err.message).toContain("manifest command: /cmd/type: must be one of submit-job,");
  });

  it("reports a bad field of the command by its path, not as a union mismatch", () => {
    expect(rejection(env({ ...(valid["attempt-start"] as object), attempt: 0 })).message).toBe(
      "manifest command: /cmd/attempt: must be an integer >= 1",
    );
    expect(rejection(env({ type: "job-control", jobId: "j1", action: "stop" })).message).toBe(
      'manifest command: /cmd/action: must be "pause", "resume", "cancel" or "delete"',
    );
    expect(rejection(env({ type: "node-failed", nodeId: "a.b", reason: "x" })).message).toBe(
      "manifest command: /cmd/nodeId: must be 1..64 characters of [A-Za-z0-9_-]",
    );
    expect(rejection(env({ type: "noop", extra: 1 })).message).toBe(
      "manifest command: /cmd/extra: is not an allowed field",
    );
    const { reason: _r, ...noReason } = valid["attempt-fail"] as Record<string, unknown>;
    expect(rejection(env(noReason)).message).toBe("manifest command: /cmd/reason: is required");
  });

  it("checks the nested output and spec rules", () => {
    const complete = valid["attempt-complete"] as { output: object };
    const bad = { ...complete, output: { ...complete.output, checksum: "XYZ" } };
    expect(rejection(env(bad)).message).toBe(
      "manifest command: /cmd/output/checksum: must be a CRC32C as 8 lowercase hex characters",
    );
    const badSpec = { type: "submit-job", spec: { ...spec, n: 100, tile: 64 } };
    expect(rejection(env(badSpec)).message).toBe(
      "manifest command: /cmd/spec/tile: must divide n (100)",
    );
    expect(rejection(env({ type: "submit-job", jobId: "..", spec })).issues[0]?.path).toBe(
      "/cmd/jobId",
    );
  });

  it("checks the envelope: version, clientId, seq and ackedSeq", () => {
    expect(rejection({ ...(env(valid.noop) as object), v: 2 }).message).toBe(
      "manifest command: /v: unsupported version 2 (supported: 1)",
    );
    expect(rejection(env(valid.noop, { seq: 0 })).message).toBe(
      "manifest command: /seq: must be an integer >= 1",
    );
    expect(rejection(env(valid.noop, { clientId: "" })).message).toBe(
      "manifest command: /clientId: must be a string of 1..64 characters",
    );
    expect(rejection(env(valid.noop, { seq: 3, ackedSeq: 3 })).message).toBe(
      "manifest command: /ackedSeq: must be < seq (3)",
    );
    expect(rejection({ v: 1, clientId: "c", seq: 1 }).message).toBe(
      "manifest command: /cmd: is required",
    );
  });

  it("checks the storage commands: reset reason, verdict digest", () => {
    expect(rejection(env({ type: "task-reset", jobId: "j1", taskId: "m-0-0-0" })).message).toBe(
      "manifest command: /cmd/reason: is required",
    );
    expect(
      rejection(env({ type: "task-reset", jobId: "j1", taskId: "m-0-0-0", reason: "" })).message,
    ).toBe("manifest command: /cmd/reason: must be a string of 1..1024 characters");
    expect(
      rejection(env({ type: "output-verified", jobId: "j1", taskId: "m-0-0-0", attempt: 0 }))
        .message,
    ).toBe("manifest command: /cmd/attempt: must be an integer >= 1");
    expect(rejection(env({ type: "outputs-verified", jobId: "j1", outputs: [] })).message).toBe(
      "manifest command: /cmd/outputs: expected array length to be greater or equal to 1",
    );
    expect(
      rejection(env({ type: "outputs-verified", jobId: "j1", outputs: [{ taskId: "q" }] })).message,
    ).toBe("manifest command: /cmd/outputs/0/taskId: must be a task id m-<i>-<j>-<k> or r-<i>-<j>");
    // A positive verdict must name the digest it was computed over; a negative one need not.
    expect(rejection(env({ type: "job-verified", jobId: "j1", verified: true })).message).toBe(
      "manifest command: /cmd/digest: is required when verified is true",
    );
    expect(
      rejection(env({ type: "job-verified", jobId: "j1", verified: true, digest: "AB".repeat(32) }))
        .message,
    ).toBe("manifest command: /cmd/digest: must be a SHA-256 as 64 lowercase hex characters");
    expect(rejection(env({ type: "job-verified", jobId: "j1", verified: "yes" })).message).toBe(
      "manifest command: /cmd/verified: must be a boolean",
    );
    const negative = env({ type: "job-verified", jobId: "j1", verified: false, reason: "C(0,1)" });
    expect(commandEnvelopeCodec.check(negative).ok).toBe(true);
  });

  it("refuses an oversized command before parsing it", () => {
    const big = bytes(env({ type: "node-failed", nodeId: "a", reason: "x".repeat(70_000) }));
    expect(() => decodeCommandEnvelope(big)).toThrow(
      `manifest command: message of ${big.byteLength} bytes exceeds the limit of 65536 bytes`,
    );
  });
});

describe("manifest reply", () => {
  it("round-trips ok and error replies and rejects unknown codes", () => {
    const ok = { ok: true as const, result: { jobId: "j1" } };
    expect(decodeManifestReply(encodeManifestReply(ok))).toEqual(ok);
    const err = { ok: false as const, code: "stale-attempt" as const, reason: "expected 2" };
    expect(decodeManifestReply(encodeManifestReply(err))).toEqual(err);
    expect(() => decodeManifestReply(bytes({ ok: false, code: "nope", reason: "" }))).toThrow(
      "manifest reply",
    );
    for (const code of ["task-not-complete", "job-not-computed", "digest-mismatch"] as const) {
      const r = { ok: false as const, code, reason: "x" };
      expect(decodeManifestReply(encodeManifestReply(r))).toEqual(r);
    }
  });
});

describe("manifest event batch", () => {
  const batch: ManifestEventBatchV1 = {
    v: 1,
    index: 42,
    term: 3,
    at: 1_700_000_000_000,
    events: [
      {
        category: "job",
        type: "submitted",
        jobId: "j1",
        spec: spec as never,
        maps: 64,
        reduces: 16,
        maxAttempts: 4,
      },
      {
        category: "task",
        type: "completed",
        jobId: "j1",
        taskId: "m-0-0-0",
        attempt: 1,
        kind: "map",
        nodeId: "a-1",
        output: { uri: "file:///x/jobs/j1/partials/0-0-0.tile", checksum: "00000001", bytes: 9 },
      },
      { category: "node", type: "failed", nodeId: "a-1", reason: "phi", expired: 2 },
    ],
  };

  it("round-trips a batch", () => {
    expect(decodeManifestEventBatch(encodeManifestEventBatch(batch))).toEqual(batch);
  });

  it("round-trips the reset and verification events; job.failed may name no task", () => {
    const digest = "cd".repeat(32);
    const storage: ManifestEventBatchV1 = {
      ...batch,
      events: [
        {
          category: "task",
          type: "reset",
          jobId: "j1",
          taskId: "r-1-0",
          attempt: 2,
          kind: "reduce",
          reason: "unreadable",
          resets: 1,
          jobState: "running",
        },
        { category: "job", type: "computed", jobId: "j1", outputDigest: digest },
        {
          category: "job",
          type: "verified",
          jobId: "j1",
          verified: false,
          outputDigest: digest,
          reason: "r",
        },
        {
          category: "job",
          type: "failed",
          jobId: "j1",
          reason: "verification failed: r",
          released: 0,
        },
      ],
    };
    expect(decodeManifestEventBatch(encodeManifestEventBatch(storage))).toEqual(storage);
    const bad = structuredClone(storage) as unknown as { events: Record<string, unknown>[] };
    (bad.events[0] as Record<string, unknown>).jobState = "done";
    const r = manifestEventBatchCodec.check(bad);
    expect(r.ok ? "" : r.error.issues[0]?.path).toBe("/events/0/jobState");
    const noDigest = structuredClone(storage) as unknown as { events: Record<string, unknown>[] };
    delete (noDigest.events[1] as Record<string, unknown>).outputDigest;
    const n = manifestEventBatchCodec.check(noDigest);
    expect(n.ok ? "" : n.error.message).toBe(
      "manifest event batch: /events/1/outputDigest: is required",
    );
  });

  it("names the bad event and field", () => {
    const bad = structuredClone(batch) as unknown as { events: Record<string, unknown>[] };
    (bad.events[1] as Record<string, unknown>).attempt = 0;
    const r = manifestEventBatchCodec.check(bad);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toBe(
        "manifest event batch: /events/1/attempt: must be an integer >= 1",
      );
    }
    const unknown = { ...batch, events: [{ category: "job", type: "exploded", jobId: "j1" }] };
    const u = manifestEventBatchCodec.check(unknown);
    expect(u.ok ? "" : u.error.message).toBe(
      'manifest event batch: /events/0: unknown type "job.exploded"',
    );
    const empty = manifestEventBatchCodec.check({ ...batch, events: [] });
    expect(empty.ok ? "" : empty.error.message).toBe(
      "manifest event batch: /events: must be an array of 1..100000 events",
    );
  });
});
