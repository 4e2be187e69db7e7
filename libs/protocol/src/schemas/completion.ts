import { type Static, Type } from "@sinclair/typebox";
import {
  Attempt,
  EpochMs,
  ExecutionProvider,
  JobId,
  Millis,
  NonEmptyString,
  NonNegativeInt,
  SubjectToken,
  TaskKind,
} from "./common.js";

export const CHECKSUM_PATTERN = "^[0-9a-f]{8}$";

export const CompletionOutput = Type.Object(
  {
    uri: NonEmptyString(2048),
    key: NonEmptyString(1024),
    /** CRC32C of the stored bytes as 8 lowercase hex characters. */
    checksum: Type.String({
      pattern: CHECKSUM_PATTERN,
      errorMessage: "must be a CRC32C as 8 lowercase hex characters",
    }),
    bytes: NonNegativeInt(),
  },
  { additionalProperties: false },
);
export type CompletionOutput = Static<typeof CompletionOutput>;

export const CompletionError = Type.Object(
  { code: NonEmptyString(128), message: Type.String({ maxLength: 4096 }) },
  { additionalProperties: false },
);
export type CompletionError = Static<typeof CompletionError>;

export const CompletionTimings = Type.Object(
  { readMs: Millis, computeMs: Millis, writeMs: Millis, totalMs: Millis },
  { additionalProperties: false },
);
export type CompletionTimings = Static<typeof CompletionTimings>;

/**
 * An agent's report for one work item, published on `tessera.cmd.task.complete` with
 * Nats-Msg-Id `complete:<itemId>`. `status: "ok"` requires `output`; `"failed"` requires
 * `error` (checked in `rules.ts`).
 */
export const CompletionV1 = Type.Object(
  {
    v: Type.Literal(1),
    itemId: NonEmptyString(256),
    jobId: JobId,
    taskId: NonEmptyString(128),
    attempt: Attempt,
    kind: TaskKind,
    nodeId: SubjectToken,
    status: Type.Union([Type.Literal("ok"), Type.Literal("failed")], {
      errorMessage: 'must be "ok" or "failed"',
    }),
    output: Type.Optional(CompletionOutput),
    error: Type.Optional(CompletionError),
    timings: CompletionTimings,
    executionProvider: ExecutionProvider,
    completedAt: EpochMs,
  },
  { additionalProperties: false, $id: "CompletionV1" },
);
export type CompletionV1 = Static<typeof CompletionV1>;

export const Completion = Type.Union([CompletionV1], { $id: "Completion" });
export type Completion = Static<typeof Completion>;

/**
 * An agent's reports for one WorkBatchV1, published on `tessera.cmd.task.complete-batch` with
 * Nats-Msg-Id `complete-batch:<batchId>`: one completion per item it ran, in the batch's order
 * (checked in `rules.ts`: at least one, all from `nodeId`). The consensus leader applies them as
 * one attempt-report-batch command.
 */
export const CompletionBatchV1 = Type.Object(
  {
    v: Type.Literal(1),
    batchId: NonEmptyString(256),
    nodeId: SubjectToken,
    completions: Type.Array(CompletionV1, { minItems: 1, maxItems: 128 }),
  },
  { additionalProperties: false, $id: "CompletionBatchV1" },
);
export type CompletionBatchV1 = Static<typeof CompletionBatchV1>;

export const CompletionBatch = Type.Union([CompletionBatchV1], { $id: "CompletionBatch" });
export type CompletionBatch = Static<typeof CompletionBatch>;
