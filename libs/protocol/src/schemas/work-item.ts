import { type Static, Type } from "@sinclair/typebox";
import {
  Attempt,
  EpochMs,
  JobId,
  NonEmptyString,
  NonNegativeInt,
  SubjectToken,
  TaskKind,
} from "./common.js";
import { MatmulJobSpec } from "./job-spec.js";

/**
 * A Map or Reduce work item as published on `tessera.work.<pool>.<kind>`.
 * - Map (i,j,k): C_part(i,j,k) = A(i,k) · B(k,j); `k` is required.
 * - Reduce (i,j): C(i,j) = Σ_k C_part(i,j,k) in order k = 0..K-1; `k` is forbidden.
 * `itemId` is `${jobId}/${taskId}/${attempt}` and `taskId` is `m-i-j-k` / `r-i-j`
 * (checked in `rules.ts`).
 */
export const WorkItemV1 = Type.Object(
  {
    v: Type.Literal(1),
    itemId: NonEmptyString(256),
    jobId: JobId,
    taskId: NonEmptyString(128),
    attempt: Attempt,
    kind: TaskKind,
    job: MatmulJobSpec,
    i: NonNegativeInt(),
    j: NonNegativeInt(),
    k: Type.Optional(NonNegativeInt()),
    pool: SubjectToken,
    issuedAt: EpochMs,
    /** Absolute deadline (ms since the epoch) after which the scheduler may re-issue. */
    deadlineMs: Type.Optional(EpochMs),
  },
  { additionalProperties: false, $id: "WorkItemV1" },
);
export type WorkItemV1 = Static<typeof WorkItemV1>;

/** Every work item version a consumer understands, discriminated by `v`. */
export const WorkItem = Type.Union([WorkItemV1], { $id: "WorkItem" });
export type WorkItem = Static<typeof WorkItem>;

/** Most work items one WorkBatchV1 carries (an attempt-start-batch's accepted starts). */
export const MAX_ITEMS_PER_WORK_BATCH = 128;

/**
 * The batched task path (short tasks only, services/scheduler/README.md): the work items of the
 * attempts one attempt-start-batch started, published as ONE message on
 * `tessera.work.<pool>.batch` with Nats-Msg-Id `work-batch:<batchId>`. An agent runs them in
 * one slot, in order, and reports them in one CompletionBatchV1 before acking the message.
 * `batchId` is the manifest's name for the batch (the first accepted start's item id); every item
 * belongs to `jobId` and `pool` (checked in `rules.ts`).
 */
export const WorkBatchV1 = Type.Object(
  {
    v: Type.Literal(1),
    batchId: NonEmptyString(256),
    jobId: JobId,
    pool: SubjectToken,
    items: Type.Array(WorkItemV1, { minItems: 1, maxItems: MAX_ITEMS_PER_WORK_BATCH }),
  },
  { additionalProperties: false, $id: "WorkBatchV1" },
);
export type WorkBatchV1 = Static<typeof WorkBatchV1>;

export const WorkBatch = Type.Union([WorkBatchV1], { $id: "WorkBatch" });
export type WorkBatch = Static<typeof WorkBatch>;
