import {
  decodeCommandEnvelope,
  encodeCompletion,
  encodeCompletionBatch,
  ProtocolValidationError,
  SUBJECTS,
} from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import {
  COMPLETION_BATCHES_CLIENT_ID,
  COMPLETIONS_CLIENT_ID,
  commandBytesFor,
} from "./completion-command.js";

const base = {
  v: 1 as const,
  itemId: "job-1/m-0-0-0/1",
  jobId: "job-1",
  taskId: "m-0-0-0",
  attempt: 1,
  kind: "map" as const,
  nodeId: "cpu-1",
  timings: { readMs: 1, computeMs: 2, writeMs: 3, totalMs: 6 },
  executionProvider: "cpu" as const,
  completedAt: 1_700_000_000_000,
};

describe("agent completions on TESSERA_CMD", () => {
  it("an ok report becomes attempt-complete under the shared session, seq = stream sequence", () => {
    const data = encodeCompletion({
      ...base,
      status: "ok",
      output: {
        uri: "file:///d/jobs/job-1/partials/0-0-0.tile",
        key: "jobs/job-1/partials/0-0-0.tile",
        checksum: "0a1b2c3d",
        bytes: 4160,
      },
    });
    const env = decodeCommandEnvelope(
      commandBytesFor({ subject: SUBJECTS.taskComplete, data, seq: 42 }),
    );
    expect(env.clientId).toBe(COMPLETIONS_CLIENT_ID);
    expect(env.seq).toBe(42);
    expect(env.cmd).toMatchObject({
      type: "attempt-complete",
      jobId: "job-1",
      taskId: "m-0-0-0",
      attempt: 1,
      nodeId: "cpu-1",
      output: { checksum: "0a1b2c3d", bytes: 4160 },
    });
  });

  it("a failed report becomes attempt-fail carrying the error code as the reason", () => {
    const data = encodeCompletion({
      ...base,
      status: "failed",
      error: { code: "TESSERA_E_STORAGE_CHECKSUM", message: "jobs/job-1/partials/0-0-0.tile" },
    });
    const env = decodeCommandEnvelope(
      commandBytesFor({ subject: SUBJECTS.taskComplete, data, seq: 7 }),
    );
    expect(env.cmd).toMatchObject({ type: "attempt-fail", retryable: true });
    expect((env.cmd as { reason: string }).reason).toMatch(/^TESSERA_E_STORAGE_CHECKSUM: /);
  });

  it("a malformed report is a ProtocolError naming the field (so the message is terminated)", () => {
    const data = new TextEncoder().encode(JSON.stringify({ ...base, status: "ok", attempt: 0 }));
    expect(() => commandBytesFor({ subject: SUBJECTS.taskComplete, data, seq: 1 })).toThrow(
      ProtocolValidationError,
    );
    expect(() => commandBytesFor({ subject: SUBJECTS.taskComplete, data, seq: 1 })).toThrow(
      /attempt/,
    );
  });

  it("a completion batch becomes one attempt-report-batch under its own session", () => {
    const ok = {
      ...base,
      status: "ok" as const,
      output: {
        uri: "empty:k",
        key: "jobs/job-1/partials/0-0-0.tile",
        checksum: "00000000",
        bytes: 0,
      },
    };
    const failed = {
      ...base,
      itemId: "job-1/m-0-0-1/2",
      taskId: "m-0-0-1",
      attempt: 2,
      status: "failed" as const,
      error: { code: "TESSERA_E_STORAGE_UNAVAILABLE", message: "timeout" },
    };
    const data = encodeCompletionBatch({
      v: 1,
      batchId: "job-1/m-0-0-0/1",
      nodeId: "cpu-1",
      completions: [ok, failed],
    });
    const env = decodeCommandEnvelope(
      commandBytesFor({ subject: SUBJECTS.taskCompleteBatch, data, seq: 9 }),
    );
    expect(env.clientId).toBe(COMPLETION_BATCHES_CLIENT_ID);
    expect(env.seq).toBe(9);
    expect(env.cmd).toMatchObject({
      type: "attempt-report-batch",
      reports: [
        { type: "attempt-complete", taskId: "m-0-0-0", attempt: 1, nodeId: "cpu-1" },
        { type: "attempt-fail", taskId: "m-0-0-1", attempt: 2, retryable: true },
      ],
    });
    const bad = new TextEncoder().encode(JSON.stringify({ v: 1, batchId: "b", nodeId: "cpu-1" }));
    expect(() =>
      commandBytesFor({ subject: SUBJECTS.taskCompleteBatch, data: bad, seq: 10 }),
    ).toThrow(/completions/);
  });

  it("other subjects must carry a valid envelope", () => {
    const bad = new TextEncoder().encode('{"v":1}');
    expect(() => commandBytesFor({ subject: "tessera.cmd.job.submit", data: bad, seq: 1 })).toThrow(
      ProtocolValidationError,
    );
  });
});
