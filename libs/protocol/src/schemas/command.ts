import { type Static, type TSchema, Type } from "@sinclair/typebox";
import {
  Attempt,
  EpochMs,
  ExecutionProvider,
  JobId,
  NonEmptyString,
  NonNegativeInt,
  SubjectToken,
} from "./common.js";
import { CHECKSUM_PATTERN, CompletionTimings } from "./completion.js";
import { NodeCapacity, NodeLabels } from "./heartbeat.js";
import { MatmulJobSpec } from "./job-spec.js";

/**
 * Commands of the Global Task Manifest (the consensus service's replicated state machine).
 *
 * A command travels as UTF-8 JSON `CommandEnvelopeV1` inside a Raft log entry (after the
 * leader's 8-byte stampedAt). `clientId` + `seq` give exactly-once application through the
 * manifest's client-session table. Every `cmd.type` has its own schema below; the envelope
 * codec dispatches on `type` so a bad field is reported as `/cmd/<field>`, not as "union
 * mismatch". The FSM checks what schemas cannot (job exists, attempt is live, ...) and answers
 * with a `ManifestReply` carrying one of `MANIFEST_REPLY_CODES`.
 */

/** Largest command the manifest accepts (bytes of the encoded envelope). */
export const MAX_COMMAND_BYTES = 64 * 1024;

/** Most attempts a job may allow per task before the task (and the job) fails. */
export const MAX_TASK_ATTEMPTS = 255;

export const ClientId = NonEmptyString(64);
export const TaskIdField = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: "^[mr](-[0-9]{1,9}){2,3}$",
  errorMessage: "must be a task id m-<i>-<j>-<k> or r-<i>-<j>",
});
const Reason = NonEmptyString(1024);

export const SubmitJobCommand = Type.Object(
  {
    type: Type.Literal("submit-job"),
    /** Absent: the manifest assigns `job-<log index>`. */
    jobId: Type.Optional(JobId),
    spec: MatmulJobSpec,
    /** Attempts per task that may fail (attempt-fail) before the job fails. Default 4. */
    maxAttempts: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_TASK_ATTEMPTS,
        errorMessage: `must be an integer in 1..${MAX_TASK_ATTEMPTS}`,
      }),
    ),
  },
  { additionalProperties: false, $id: "SubmitJobCommand" },
);
export type SubmitJobCommand = Static<typeof SubmitJobCommand>;

/**
 * `delete` removes a finished job (succeeded, failed or cancelled) from the manifest for good:
 * its tasks stop counting against the manifest's limits, its id is never reused, and the
 * storage-manager deletes its stored objects (job.deleted).
 */
export const JobControlAction = Type.Union(
  [Type.Literal("pause"), Type.Literal("resume"), Type.Literal("cancel"), Type.Literal("delete")],
  { errorMessage: 'must be "pause", "resume", "cancel" or "delete"' },
);
export type JobControlAction = Static<typeof JobControlAction>;

export const JobControlCommand = Type.Object(
  { type: Type.Literal("job-control"), jobId: JobId, action: JobControlAction },
  { additionalProperties: false, $id: "JobControlCommand" },
);
export type JobControlCommand = Static<typeof JobControlCommand>;

export const EmergencyStopCommand = Type.Object(
  {
    type: Type.Literal("emergency-stop"),
    engaged: Type.Boolean({ errorMessage: "must be a boolean" }),
  },
  { additionalProperties: false, $id: "EmergencyStopCommand" },
);
export type EmergencyStopCommand = Static<typeof EmergencyStopCommand>;

export const AttemptStartCommand = Type.Object(
  {
    type: Type.Literal("attempt-start"),
    jobId: JobId,
    taskId: TaskIdField,
    /** Must be exactly the task's last attempt + 1 (fencing). */
    attempt: Attempt,
    /** The node the scheduler placed it on (may be bound later by attempt-claim). */
    nodeId: Type.Optional(SubjectToken),
    /** A duplicate attempt next to a live one (straggler mitigation); at most one per task. */
    speculative: Type.Optional(Type.Boolean({ errorMessage: "must be a boolean" })),
    /** Scheduler's deadline (ms since the epoch); informational, expiry is an explicit command. */
    deadlineAt: Type.Optional(EpochMs),
    /**
     * For a reduce whose partials are not all complete yet: arm the attempt instead of refusing
     * it (`not-runnable`). The manifest starts an armed attempt in the same log entry as the
     * completion that makes the reduce runnable (task.started with `armed: true`), so a dependent
     * task costs no second round of scheduler reaction and commit. A runnable task starts at once.
     */
    whenReady: Type.Optional(Type.Boolean({ errorMessage: "must be a boolean" })),
  },
  { additionalProperties: false, $id: "AttemptStartCommand" },
);
export type AttemptStartCommand = Static<typeof AttemptStartCommand>;

/** Most attempts one attempt-start-batch or attempt-report-batch may carry. */
export const MAX_ATTEMPTS_PER_BATCH = 128;

/**
 * attempt-start for many fresh (not speculative) attempts of one job in one command: the
 * scheduler's batched task path for short tasks (services/scheduler/README.md). Each start is
 * judged on its own, exactly as an attempt-start would be; the accepted ones form one batch named
 * after the first of them (`<jobId>/<taskId>/<attempt>`), recorded on each of their attempts, so
 * a restarted scheduler regroups live attempts the same way (one work message per batch).
 */
export const AttemptStartBatchCommand = Type.Object(
  {
    type: Type.Literal("attempt-start-batch"),
    jobId: JobId,
    starts: Type.Array(
      Type.Object(
        {
          taskId: TaskIdField,
          /** Must be exactly the task's last attempt + 1 (fencing). */
          attempt: Attempt,
          nodeId: Type.Optional(SubjectToken),
          deadlineAt: Type.Optional(EpochMs),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_ATTEMPTS_PER_BATCH },
    ),
  },
  { additionalProperties: false, $id: "AttemptStartBatchCommand" },
);
export type AttemptStartBatchCommand = Static<typeof AttemptStartBatchCommand>;

export const AttemptClaimCommand = Type.Object(
  {
    type: Type.Literal("attempt-claim"),
    jobId: JobId,
    taskId: TaskIdField,
    attempt: Attempt,
    nodeId: SubjectToken,
  },
  { additionalProperties: false, $id: "AttemptClaimCommand" },
);
export type AttemptClaimCommand = Static<typeof AttemptClaimCommand>;

export const AttemptOutput = Type.Object(
  {
    /** Must end with the task's deterministic key (`jobs/<job>/partials/i-j-k.tile` or `.../C/i-j.tile`). */
    uri: NonEmptyString(2048),
    checksum: Type.String({
      pattern: CHECKSUM_PATTERN,
      errorMessage: "must be a CRC32C as 8 lowercase hex characters",
    }),
    bytes: Type.Integer({
      minimum: 0,
      maximum: 0xffff_ffff,
      errorMessage: "must be an integer in 0..4294967295",
    }),
  },
  { additionalProperties: false },
);
export type AttemptOutput = Static<typeof AttemptOutput>;

/** Most armed attempts one report may take over (Handover.max). */
export const MAX_HANDOVER = 64;

/**
 * On a report sent straight to the leader (DirectReportV1 on `tessera.leader.report`): the
 * reporting agent, of `pool`, runs up to `max` of the armed attempts this report starts. The
 * manifest binds them to the reporting node and answers with their work items (the reply's
 * `handed`), and their task.started events say `handed: true`, so nobody publishes them.
 */
export const Handover = Type.Object(
  {
    pool: SubjectToken,
    max: Type.Integer({
      minimum: 1,
      maximum: MAX_HANDOVER,
      errorMessage: `must be an integer in 1..${MAX_HANDOVER}`,
    }),
  },
  { additionalProperties: false },
);
export type Handover = Static<typeof Handover>;

export const AttemptCompleteCommand = Type.Object(
  {
    type: Type.Literal("attempt-complete"),
    jobId: JobId,
    taskId: TaskIdField,
    attempt: Attempt,
    nodeId: SubjectToken,
    output: AttemptOutput,
    timings: Type.Optional(CompletionTimings),
    handover: Type.Optional(Handover),
  },
  { additionalProperties: false, $id: "AttemptCompleteCommand" },
);
export type AttemptCompleteCommand = Static<typeof AttemptCompleteCommand>;

export const AttemptFailCommand = Type.Object(
  {
    type: Type.Literal("attempt-fail"),
    jobId: JobId,
    taskId: TaskIdField,
    attempt: Attempt,
    nodeId: Type.Optional(SubjectToken),
    reason: Reason,
    /** false: the failure is deterministic (bad input...) and the job fails at once. */
    retryable: Type.Boolean({ errorMessage: "must be a boolean" }),
  },
  { additionalProperties: false, $id: "AttemptFailCommand" },
);
export type AttemptFailCommand = Static<typeof AttemptFailCommand>;

/**
 * The agent reports of one batched work message (CompletionBatchV1) in one command: each is an
 * attempt-complete or attempt-fail judged on its own, as if sent alone (a stale one is refused
 * and named in the reply, the rest apply).
 */
export const AttemptReportBatchCommand = Type.Object(
  {
    type: Type.Literal("attempt-report-batch"),
    reports: Type.Array(Type.Union([AttemptCompleteCommand, AttemptFailCommand]), {
      minItems: 1,
      maxItems: MAX_ATTEMPTS_PER_BATCH,
    }),
    /** For the whole batch (a report inside it carries none): see Handover. */
    handover: Type.Optional(Handover),
  },
  { additionalProperties: false, $id: "AttemptReportBatchCommand" },
);
export type AttemptReportBatchCommand = Static<typeof AttemptReportBatchCommand>;

export const AttemptExpireCommand = Type.Object(
  {
    type: Type.Literal("attempt-expire"),
    jobId: JobId,
    taskId: TaskIdField,
    attempt: Attempt,
    reason: Reason,
  },
  { additionalProperties: false, $id: "AttemptExpireCommand" },
);
export type AttemptExpireCommand = Static<typeof AttemptExpireCommand>;

/**
 * A completed task goes back to pending: its output is forgotten (a stored partial/output turned
 * out corrupt), its reset counter increments. With `attempt`, only if that attempt's output is
 * still the task's output (a late duplicate cannot forget a recomputed output).
 */
export const TaskResetCommand = Type.Object(
  {
    type: Type.Literal("task-reset"),
    jobId: JobId,
    taskId: TaskIdField,
    reason: Reason,
    /** The completed attempt whose output is bad (recommended: fences stale resets). */
    attempt: Type.Optional(Attempt),
  },
  { additionalProperties: false, $id: "TaskResetCommand" },
);
export type TaskResetCommand = Static<typeof TaskResetCommand>;

/** The storage-manager checked a completed task's output is durable (exists, size, checksum). */
export const OutputVerifiedCommand = Type.Object(
  {
    type: Type.Literal("output-verified"),
    jobId: JobId,
    taskId: TaskIdField,
    /** The completed attempt whose output was checked (recommended: fences stale checks). */
    attempt: Type.Optional(Attempt),
  },
  { additionalProperties: false, $id: "OutputVerifiedCommand" },
);
export type OutputVerifiedCommand = Static<typeof OutputVerifiedCommand>;

/** Most outputs one outputs-verified command may carry. */
export const MAX_OUTPUTS_PER_VERIFIED = 1024;

/**
 * output-verified for many outputs of one job in one command (the storage-manager batches its
 * checks: one Raft entry instead of one per task). Each output is judged on its own, as if sent
 * alone: one that is stale or has no output is skipped and named in the reply, the rest count.
 */
export const OutputsVerifiedCommand = Type.Object(
  {
    type: Type.Literal("outputs-verified"),
    jobId: JobId,
    outputs: Type.Array(
      Type.Object(
        { taskId: TaskIdField, attempt: Type.Optional(Attempt) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: MAX_OUTPUTS_PER_VERIFIED },
    ),
  },
  { additionalProperties: false, $id: "OutputsVerifiedCommand" },
);
export type OutputsVerifiedCommand = Static<typeof OutputsVerifiedCommand>;

export const OUTPUT_DIGEST_PATTERN = "^[0-9a-f]{64}$";

/**
 * The storage-manager's verdict on a computed job (every reduce complete): Freivalds plus the
 * output digest. `verified: true` needs `digest`, which must equal the manifest's output digest.
 */
export const JobVerifiedCommand = Type.Object(
  {
    type: Type.Literal("job-verified"),
    jobId: JobId,
    verified: Type.Boolean({ errorMessage: "must be a boolean" }),
    /** Output digest the verifier computed from the stored tiles (required when verified). */
    digest: Type.Optional(
      Type.String({
        pattern: OUTPUT_DIGEST_PATTERN,
        errorMessage: "must be a SHA-256 as 64 lowercase hex characters",
      }),
    ),
    /** Why verification failed (verified: false). */
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false, $id: "JobVerifiedCommand" },
);
export type JobVerifiedCommand = Static<typeof JobVerifiedCommand>;

export const NodeUpsertCommand = Type.Object(
  {
    type: Type.Literal("node-upsert"),
    nodeId: SubjectToken,
    labels: NodeLabels,
    capacity: NodeCapacity,
    executionProvider: ExecutionProvider,
    /** When the heartbeat that prompted this was received (ms since the epoch). */
    at: EpochMs,
  },
  { additionalProperties: false, $id: "NodeUpsertCommand" },
);
export type NodeUpsertCommand = Static<typeof NodeUpsertCommand>;

export const NodeFailedCommand = Type.Object(
  { type: Type.Literal("node-failed"), nodeId: SubjectToken, reason: Reason },
  { additionalProperties: false, $id: "NodeFailedCommand" },
);
export type NodeFailedCommand = Static<typeof NodeFailedCommand>;

export const NodeDrainCommand = Type.Object(
  {
    type: Type.Literal("node-drain"),
    nodeId: SubjectToken,
    drained: Type.Boolean({ errorMessage: "must be a boolean" }),
    /**
     * Why (who drained it, for what), kept with the node until it is undrained; only with
     * `drained: true`. Feature level 2 (feature-levels.ts).
     */
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false, $id: "NodeDrainCommand" },
);
export type NodeDrainCommand = Static<typeof NodeDrainCommand>;

/**
 * Raises the manifest's feature level (feature-levels.ts). The leader proposes it once every
 * member has said it supports the level; a peer that does not stops rather than diverge.
 */
export const ClusterLevelCommand = Type.Object(
  {
    type: Type.Literal("cluster-level"),
    level: Type.Integer({
      minimum: 1,
      maximum: 65_535,
      errorMessage: "must be an integer between 1 and 65535",
    }),
  },
  { additionalProperties: false, $id: "ClusterLevelCommand" },
);
export type ClusterLevelCommand = Static<typeof ClusterLevelCommand>;

export const NoopCommand = Type.Object(
  { type: Type.Literal("noop") },
  { additionalProperties: false, $id: "NoopCommand" },
);
export type NoopCommand = Static<typeof NoopCommand>;

/** Every command schema by `type` (the envelope codec dispatches on this map). */
export const MANIFEST_COMMAND_SCHEMAS = {
  "submit-job": SubmitJobCommand,
  "job-control": JobControlCommand,
  "emergency-stop": EmergencyStopCommand,
  "attempt-start": AttemptStartCommand,
  "attempt-start-batch": AttemptStartBatchCommand,
  "attempt-claim": AttemptClaimCommand,
  "attempt-complete": AttemptCompleteCommand,
  "attempt-fail": AttemptFailCommand,
  "attempt-report-batch": AttemptReportBatchCommand,
  "attempt-expire": AttemptExpireCommand,
  "task-reset": TaskResetCommand,
  "output-verified": OutputVerifiedCommand,
  "outputs-verified": OutputsVerifiedCommand,
  "job-verified": JobVerifiedCommand,
  "node-upsert": NodeUpsertCommand,
  "node-failed": NodeFailedCommand,
  "node-drain": NodeDrainCommand,
  "cluster-level": ClusterLevelCommand,
  noop: NoopCommand,
} as const satisfies Record<string, TSchema>;

export type ManifestCommandType = keyof typeof MANIFEST_COMMAND_SCHEMAS;
export const MANIFEST_COMMAND_TYPES = Object.keys(
  MANIFEST_COMMAND_SCHEMAS,
) as readonly ManifestCommandType[];

export const ManifestCommand = Type.Union(Object.values(MANIFEST_COMMAND_SCHEMAS), {
  $id: "ManifestCommand",
  errorMessage: `must be a command with "type" one of ${Object.keys(MANIFEST_COMMAND_SCHEMAS).join(", ")}`,
});
export type ManifestCommand =
  | SubmitJobCommand
  | JobControlCommand
  | EmergencyStopCommand
  | AttemptStartCommand
  | AttemptStartBatchCommand
  | AttemptClaimCommand
  | AttemptCompleteCommand
  | AttemptFailCommand
  | AttemptReportBatchCommand
  | AttemptExpireCommand
  | TaskResetCommand
  | OutputVerifiedCommand
  | OutputsVerifiedCommand
  | JobVerifiedCommand
  | NodeUpsertCommand
  | NodeFailedCommand
  | NodeDrainCommand
  | ClusterLevelCommand
  | NoopCommand;

/** A command's exactly-once identity (also DirectReportV1's). */
export const envelopeFields = {
  v: Type.Literal(1),
  /** Exactly-once identity: one session per clientId in the manifest. */
  clientId: ClientId,
  /** 1, 2, 3, ... per client; a repeated seq returns the first reply. */
  seq: Type.Integer({
    minimum: 1,
    maximum: Number.MAX_SAFE_INTEGER,
    errorMessage: "must be an integer >= 1",
  }),
  /** Highest seq whose reply the client has received (lets the manifest drop cached replies). */
  ackedSeq: Type.Optional(NonNegativeInt()),
};

export const CommandEnvelopeV1 = Type.Object(
  { ...envelopeFields, cmd: ManifestCommand },
  { additionalProperties: false, $id: "CommandEnvelopeV1" },
);
export type CommandEnvelopeV1 = Omit<Static<typeof CommandEnvelopeV1>, "cmd"> & {
  cmd: ManifestCommand;
};

/**
 * The envelope as checked before dispatch: `cmd` only has to be an object with a known `type`;
 * its fields are then checked against that type's schema (see messages.ts).
 */
export const CommandEnvelopeV1Shape = Type.Object(
  {
    ...envelopeFields,
    cmd: Type.Object(
      {
        type: Type.Union(
          Object.keys(MANIFEST_COMMAND_SCHEMAS).map((t) => Type.Literal(t)),
          {
            errorMessage: `must be one of ${Object.keys(MANIFEST_COMMAND_SCHEMAS).join(", ")}`,
          },
        ),
      },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: false },
);

export const CommandEnvelope = Type.Union([CommandEnvelopeV1], { $id: "CommandEnvelope" });
export type CommandEnvelope = CommandEnvelopeV1;

/**
 * Codes of a rejected command (`ok: false`). Clients match on these, never on `reason`.
 * Session and decoding codes come first; the rest are manifest rules.
 */
export const MANIFEST_REPLY_CODES = [
  /** The entry is larger than MAX_COMMAND_BYTES. */
  "oversized",
  /** Not UTF-8 JSON, or a field violates its schema (reason names the field path). */
  "schema-error",
  /**
   * The command (or one of its fields) needs a higher feature level than the cluster has reached:
   * a peer is older or runs with a lower --feature-level. Not recorded in the session, like a
   * schema error, so the same seq may run once the level is raised.
   */
  "feature-unavailable",
  /** The seq is older than the replies this session still keeps; it will not run again. */
  "stale-seq",
  "unknown-job",
  "unknown-task",
  "unknown-node",
  /** Job id taken by a different spec. */
  "job-exists",
  /** The job would exceed the manifest's task limits. */
  "job-too-large",
  /** The manifest's job/node tables are full. */
  "capacity-exceeded",
  /** Attempt number not the next one, or not live, or held by another node (fencing). */
  "stale-attempt",
  /** A task already has its live attempt (plus speculative one). */
  "task-busy",
  /** The task has already completed. */
  "task-complete",
  /** The task failed permanently. */
  "task-failed",
  /** A reduce whose partials are not all complete, or a map whose reduce already completed. */
  "not-runnable",
  /** output-verified for a task that has no output (never completed, or reset). */
  "task-not-complete",
  /** job-verified before every reduce of the job completed. */
  "job-not-computed",
  /** job-verified whose digest is not the manifest's output digest (a stale or wrong verdict). */
  "digest-mismatch",
  "job-paused",
  /** The job is cancelled, failed or succeeded. */
  "job-finished",
  /** Delete of a job that is not finished yet (cancel it first). */
  "job-not-finished",
  "emergency-stop",
  /** The node is failed or drained and may not start work. */
  "node-unavailable",
  /** The output does not belong to the task (uri). */
  "bad-output",
  /** The entry was already applied, or the manifest hit a bug (logged by the host). */
  "internal-error",
] as const;
export type ManifestReplyCode = (typeof MANIFEST_REPLY_CODES)[number];

export const ManifestReplyOk = Type.Object(
  {
    ok: Type.Literal(true),
    /** Command-specific result (see services/consensus/src/fsm/README.md). */
    result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** Present (true) when this is the cached reply of an already-applied (clientId, seq). */
    duplicate: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false, $id: "ManifestReplyOk" },
);
export type ManifestReplyOk = Static<typeof ManifestReplyOk>;

export const ManifestReplyError = Type.Object(
  {
    ok: Type.Literal(false),
    code: Type.Union(
      MANIFEST_REPLY_CODES.map((c) => Type.Literal(c)),
      { errorMessage: `must be one of ${MANIFEST_REPLY_CODES.join(", ")}` },
    ),
    reason: Type.String({ maxLength: 4096 }),
    duplicate: Type.Optional(Type.Literal(true)),
  },
  { additionalProperties: false, $id: "ManifestReplyError" },
);
export type ManifestReplyError = Omit<Static<typeof ManifestReplyError>, "code"> & {
  code: ManifestReplyCode;
};

export const ManifestReply = Type.Union([ManifestReplyOk, ManifestReplyError], {
  $id: "ManifestReply",
  errorMessage: "must be {ok: true, result?} or {ok: false, code, reason}",
});
export type ManifestReply = ManifestReplyOk | ManifestReplyError;
