import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { AttemptOutput, OUTPUT_DIGEST_PATTERN, TaskIdField } from "./command.js";
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
import { NodeCapacity, NodeLabels } from "./heartbeat.js";
import { MatmulJobSpec } from "./job-spec.js";

/**
 * Committed manifest events. The consensus leader publishes one `ManifestEventBatchV1` per
 * applied log index that produced events, on `tessera.evt.<category of the first event>`, with
 * Nats-Msg-Id = String(index), so a new leader re-publishing an index is deduplicated. Each
 * event is `{category, type, ...fields}`; `category.type` names its schema below.
 */

// Event reasons embed a command's reason (<= 1024 chars) plus context, hence the larger bound.
const Reason = Type.String({ maxLength: 4096, errorMessage: "must be a string of <= 4096 chars" });

function event<C extends string, T extends string, P extends Record<string, TSchema>>(
  category: C,
  type: T,
  fields: P,
) {
  return Type.Object(
    { category: Type.Literal(category), type: Type.Literal(type), ...fields },
    { additionalProperties: false, $id: `ManifestEvent.${category}.${type}` },
  );
}

const TaskRef = { jobId: JobId, taskId: TaskIdField, attempt: Attempt };
const NodeInfo = {
  nodeId: SubjectToken,
  labels: NodeLabels,
  capacity: NodeCapacity,
  executionProvider: ExecutionProvider,
};

export const JobSubmittedEvent = event("job", "submitted", {
  jobId: JobId,
  spec: MatmulJobSpec,
  maps: NonNegativeInt(),
  reduces: NonNegativeInt(),
  maxAttempts: NonNegativeInt(),
});
export const JobStartedEvent = event("job", "started", { jobId: JobId });
export const JobPausedEvent = event("job", "paused", { jobId: JobId });
export const JobResumedEvent = event("job", "resumed", {
  jobId: JobId,
  state: Type.Union([Type.Literal("queued"), Type.Literal("running")]),
});
export const JobCancelledEvent = event("job", "cancelled", {
  jobId: JobId,
  /** Live attempts released (each also has a task.attempt-released event). */
  released: NonNegativeInt(),
});
/** A finished job was removed from the manifest (job-control delete): its stored objects go. */
export const JobDeletedEvent = event("job", "deleted", { jobId: JobId });
/** Hex SHA-256 over the output tiles' CRC32C in row-major order (@tessera/matrix outputDigest). */
const OutputDigest = Type.String({ pattern: OUTPUT_DIGEST_PATTERN });

/** Every reduce completed: the output digest is committed, the job awaits verification. */
export const JobComputedEvent = event("job", "computed", {
  jobId: JobId,
  outputDigest: OutputDigest,
});
/** The storage-manager's verdict was accepted; followed by job.succeeded or job.failed. */
export const JobVerifiedEvent = event("job", "verified", {
  jobId: JobId,
  verified: Type.Boolean(),
  outputDigest: OutputDigest,
  reason: Type.Optional(Reason),
});
/** The job is verified (job.verified {verified: true} precedes it in the same batch). */
export const JobSucceededEvent = event("job", "succeeded", {
  jobId: JobId,
  outputDigest: OutputDigest,
});
export const JobFailedEvent = event("job", "failed", {
  jobId: JobId,
  /** The task that failed; absent when the job failed verification. */
  taskId: Type.Optional(TaskIdField),
  reason: Reason,
  released: NonNegativeInt(),
});

export const TaskStartedEvent = event("task", "started", {
  ...TaskRef,
  kind: TaskKind,
  nodeId: Type.Optional(SubjectToken),
  speculative: Type.Boolean(),
  deadlineAt: Type.Optional(EpochMs),
  /** Started by attempt-start-batch: the batch's id (its work travels as one WorkBatchV1). */
  batch: Type.Optional(NonEmptyString(256)),
  /**
   * An armed attempt (attempt-start whenReady) started by the completion in this same entry:
   * nobody proposed it now, so whoever follows events publishes its work item.
   */
  armed: Type.Optional(Type.Boolean()),
  /**
   * An armed attempt handed over to the agent whose direct report started it (Handover): bound
   * to that node (`nodeId`), its work item went back in the report's reply; nobody publishes it.
   */
  handed: Type.Optional(Type.Boolean()),
});
/** attempt-start whenReady on a reduce not yet runnable: it starts when its partials complete. */
export const TaskArmedEvent = event("task", "armed", {
  ...TaskRef,
  nodeId: Type.Optional(SubjectToken),
});
/**
 * The reduce became runnable but its armed attempt could not start (job paused, emergency stop,
 * node gone): the arming is dropped and the reduce is runnable as usual (task.reduce-ready).
 */
export const TaskDisarmedEvent = event("task", "disarmed", { ...TaskRef, reason: Reason });
export const TaskClaimedEvent = event("task", "claimed", { ...TaskRef, nodeId: SubjectToken });
export const TaskCompletedEvent = event("task", "completed", {
  ...TaskRef,
  kind: TaskKind,
  nodeId: SubjectToken,
  output: AttemptOutput,
  /** How long the agent ran the attempt (reads, kernel, write), when it reported timings. */
  runMs: Type.Optional(Millis),
});
/** Every partial of reduce `taskId` is complete: the reduce is runnable. */
export const TaskReduceReadyEvent = event("task", "reduce-ready", {
  jobId: JobId,
  taskId: TaskIdField,
});
export const TaskAttemptFailedEvent = event("task", "attempt-failed", {
  ...TaskRef,
  nodeId: Type.Optional(SubjectToken),
  reason: Reason,
  retryable: Type.Boolean(),
  /** The task is runnable again (false: it failed permanently, see task.failed). */
  willRetry: Type.Boolean(),
});
export const TaskAttemptExpiredEvent = event("task", "attempt-expired", {
  ...TaskRef,
  nodeId: Type.Optional(SubjectToken),
  reason: Reason,
});
export const ReleaseReason = Type.Union([
  Type.Literal("lost-race"),
  Type.Literal("job-cancelled"),
  Type.Literal("job-failed"),
  Type.Literal("emergency-stop"),
]);
export type ReleaseReason = Static<typeof ReleaseReason>;
/** A live attempt was ended by the manifest; its node should stop it (its result is refused). */
export const TaskAttemptReleasedEvent = event("task", "attempt-released", {
  ...TaskRef,
  nodeId: Type.Optional(SubjectToken),
  reason: ReleaseReason,
});
export const JobStateField = Type.Union([
  Type.Literal("queued"),
  Type.Literal("running"),
  Type.Literal("paused"),
  Type.Literal("cancelled"),
  Type.Literal("failed"),
  Type.Literal("succeeded"),
  Type.Literal("verifying"),
]);
/**
 * A completed task went back to pending (task-reset): its output is forgotten. Live attempts of
 * tasks that read it are not touched; a completed reduce stays complete when a partial is reset.
 */
export const TaskResetEvent = event("task", "reset", {
  ...TaskRef,
  kind: TaskKind,
  reason: Reason,
  /** Resets of this task so far (saturates at 255). */
  resets: NonNegativeInt(),
  /** The job's state after the reset (a reset reduce moves a verifying job back to running). */
  jobState: JobStateField,
});
export const TaskFailedEvent = event("task", "failed", {
  jobId: JobId,
  taskId: TaskIdField,
  reason: Reason,
  failures: NonNegativeInt(),
});

export const NodeJoinedEvent = event("node", "joined", NodeInfo);
export const NodeChangedEvent = event("node", "changed", NodeInfo);
export const NodeRecoveredEvent = event("node", "recovered", NodeInfo);
export const NodeFailedEvent = event("node", "failed", {
  nodeId: SubjectToken,
  reason: Reason,
  /** Live attempts expired (each also has a task.attempt-expired event). */
  expired: NonNegativeInt(),
});
export const NodeDrainEvent = event("node", "drain", {
  nodeId: SubjectToken,
  drained: Type.Boolean(),
  reason: Type.Optional(Reason),
});

export const EmergencyStopEvent = event("control", "emergency-stop", {
  engaged: Type.Boolean(),
  released: NonNegativeInt(),
});

/** The manifest's feature level was raised (feature-levels.ts). */
export const FeatureLevelEvent = event("control", "feature-level", {
  level: Type.Integer({ minimum: 1 }),
});

/** Every event schema by `category.type`. */
export const MANIFEST_EVENT_SCHEMAS = {
  "job.submitted": JobSubmittedEvent,
  "job.started": JobStartedEvent,
  "job.paused": JobPausedEvent,
  "job.resumed": JobResumedEvent,
  "job.cancelled": JobCancelledEvent,
  "job.computed": JobComputedEvent,
  "job.verified": JobVerifiedEvent,
  "job.succeeded": JobSucceededEvent,
  "job.failed": JobFailedEvent,
  "job.deleted": JobDeletedEvent,
  "task.started": TaskStartedEvent,
  "task.armed": TaskArmedEvent,
  "task.disarmed": TaskDisarmedEvent,
  "task.claimed": TaskClaimedEvent,
  "task.completed": TaskCompletedEvent,
  "task.reduce-ready": TaskReduceReadyEvent,
  "task.attempt-failed": TaskAttemptFailedEvent,
  "task.attempt-expired": TaskAttemptExpiredEvent,
  "task.attempt-released": TaskAttemptReleasedEvent,
  "task.failed": TaskFailedEvent,
  "task.reset": TaskResetEvent,
  "node.joined": NodeJoinedEvent,
  "node.changed": NodeChangedEvent,
  "node.recovered": NodeRecoveredEvent,
  "node.failed": NodeFailedEvent,
  "node.drain": NodeDrainEvent,
  "control.emergency-stop": EmergencyStopEvent,
  "control.feature-level": FeatureLevelEvent,
} as const satisfies Record<string, TSchema>;

export type ManifestEventName = keyof typeof MANIFEST_EVENT_SCHEMAS;
export type ManifestEventCategory = "job" | "task" | "node" | "control";

export const ManifestEvent = Type.Union(Object.values(MANIFEST_EVENT_SCHEMAS), {
  $id: "ManifestEvent",
  errorMessage: "must be a known manifest event {category, type, ...}",
});
export type ManifestEvent = {
  [K in ManifestEventName]: Static<(typeof MANIFEST_EVENT_SCHEMAS)[K]>;
}[ManifestEventName];

/** One event of a given `category.type`, e.g. `ManifestEventOf<"task.completed">`. */
export type ManifestEventOf<K extends ManifestEventName> = Static<
  (typeof MANIFEST_EVENT_SCHEMAS)[K]
>;

/** Upper bound on events in one batch (one log index); node-failed / cancel are the big ones. */
export const MAX_EVENTS_PER_BATCH = 100_000;

const batchFields = {
  v: Type.Literal(1),
  /** Raft log index that produced these events (also the Nats-Msg-Id). */
  index: Type.Integer({ minimum: 1, errorMessage: "must be an integer >= 1" }),
  term: NonNegativeInt(),
  /** The entry's stampedAt (leader time, ms since the epoch). */
  at: Millis,
};

export const ManifestEventBatchV1 = Type.Object(
  {
    ...batchFields,
    events: Type.Array(ManifestEvent, { minItems: 1, maxItems: MAX_EVENTS_PER_BATCH }),
  },
  { additionalProperties: false, $id: "ManifestEventBatchV1" },
);
export type ManifestEventBatchV1 = Omit<Static<typeof ManifestEventBatchV1>, "events"> & {
  events: ManifestEvent[];
};

/** The batch as checked before each event is dispatched to its own schema (messages.ts). */
export const ManifestEventBatchV1Shape = Type.Object(
  {
    ...batchFields,
    events: Type.Array(
      Type.Object(
        { category: NonEmptyString(32), type: NonEmptyString(64) },
        { additionalProperties: true },
      ),
      {
        minItems: 1,
        maxItems: MAX_EVENTS_PER_BATCH,
        errorMessage: `must be an array of 1..${MAX_EVENTS_PER_BATCH} events`,
      },
    ),
  },
  { additionalProperties: false },
);

export const ManifestEventBatch = Type.Union([ManifestEventBatchV1], { $id: "ManifestEventBatch" });
export type ManifestEventBatch = ManifestEventBatchV1;
