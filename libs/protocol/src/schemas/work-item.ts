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
