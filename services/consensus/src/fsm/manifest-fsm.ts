import { createHash } from "node:crypto";
import {
  crc32cOf,
  EMPTY_OUTPUT_SCHEME,
  emptyOutput,
  formatCrc32c,
  jobOutputDigest,
  type MatmulJobSpec,
} from "@tessera/matrix";
import {
  type AttemptClaimCommand,
  type AttemptCompleteCommand,
  type AttemptExpireCommand,
  type AttemptFailCommand,
  type AttemptReportBatchCommand,
  type AttemptStartBatchCommand,
  type AttemptStartCommand,
  BASE_FEATURE_LEVEL,
  buildWorkItem,
  type ClusterLevelCommand,
  type CommandEnvelope,
  commandEnvelopeCodec,
  decodeJson,
  type EmergencyStopCommand,
  type Handover,
  type JobControlCommand,
  type JobVerifiedCommand,
  MANIFEST_FEATURE_LEVEL,
  MAX_COMMAND_BYTES,
  type ManifestCommand,
  type ManifestEvent,
  type ManifestReply,
  type ManifestReplyCode,
  type NodeCapacity,
  type NodeDrainCommand,
  type NodeFailedCommand,
  type NodeLabels,
  type NodeUpsertCommand,
  type OutputsVerifiedCommand,
  type OutputVerifiedCommand,
  ProtocolError,
  type ReleaseReason,
  requiredFeatureLevel,
  type SubmitJobCommand,
  type TaskResetCommand,
  type WorkItemV1,
} from "@tessera/protocol";
import type {
  ApplyOutcome,
  BatchApplyOutcome,
  CommittedBatch,
  CommittedCommand,
  ManifestEventOut,
  StateMachine,
} from "../state-machine.js";
import { ChunkWriter, Reader } from "./binary.js";
import {
  FeatureLevelError,
  FsmOptionsError,
  FsmSnapshotError,
  ManifestRejection,
} from "./errors.js";
import {
  type ArmedAttempt,
  DONE,
  FAILED,
  isTerminal,
  Job,
  type JobState,
  type LiveAttempt,
  PENDING,
  RUNNING,
  TASK_STATES,
  type TaskRef,
  type TaskStateName,
} from "./job.js";
import { type NodeRecord, readNode, sameNodeInfo, writeNode } from "./nodes.js";
import { type SessionOptions, SessionTable } from "./sessions.js";

/**
 * The Global Task Manifest as a Raft state machine: jobs, their tasks (derived from the spec,
 * stored as typed arrays), attempts with fencing, the node registry, controls, and the client
 * session table. Pure and deterministic: no clock, no randomness, no I/O; time is the leader's
 * `stampedAt`. Commands, replies, events and the snapshot format are described in README.md.
 */

export interface ManifestLimits {
  /** Largest command entry accepted (bytes); larger ones are refused as `oversized`. */
  readonly maxCommandBytes: number;
  readonly maxJobs: number;
  readonly maxTasksPerJob: number;
  /** Sum of tasks over all jobs held (terminal jobs included: there is no GC yet). */
  readonly maxTotalTasks: number;
  readonly maxNodes: number;
  /** maxAttempts of a job that does not say. */
  readonly defaultMaxAttempts: number;
}

export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = {
  maxCommandBytes: MAX_COMMAND_BYTES,
  maxJobs: 10_000,
  maxTasksPerJob: 1 << 23,
  maxTotalTasks: 1 << 25,
  maxNodes: 65_536,
  defaultMaxAttempts: 4,
};

/**
 * Options must be identical on every peer (they change what apply does): take them from the
 * cluster configuration, never from per-host settings.
 */
export interface ManifestFsmOptions {
  readonly limits?: Partial<ManifestLimits>;
  readonly sessions?: Partial<SessionOptions>;
  /**
   * The highest feature level this peer can apply (default MANIFEST_FEATURE_LEVEL). The one
   * per-peer option: it changes nothing apply does until the cluster commits a level above it,
   * and then apply throws FeatureLevelError (the peer must stop rather than diverge).
   */
  readonly featureLevel?: number;
}

export interface JobCounts {
  readonly tasks: number;
  readonly maps: number;
  readonly reduces: number;
  readonly mapsDone: number;
  readonly reducesDone: number;
  /** Tasks with no live attempt that are not done or failed (includes reduces not yet ready). */
  readonly pending: number;
  /** Tasks with at least one live attempt. */
  readonly running: number;
  readonly done: number;
  readonly failed: number;
  /** Live attempts (a task with a speculative duplicate counts twice). */
  readonly liveAttempts: number;
  /** Done tasks whose output the storage-manager marked durable (output-verified). */
  readonly verifiedOutputs: number;
  /** task-resets applied to the job's tasks (sum of the per-task counters). */
  readonly resets: number;
  /** Attempts started: one per task when nothing failed, more for retries and speculation. */
  readonly attempts: number;
  /** Reduces armed (attempt-start whenReady): each starts with the completion of its last partial. */
  readonly armed: number;
}

export interface JobView {
  readonly jobId: string;
  readonly spec: MatmulJobSpec;
  readonly state: JobState;
  readonly maxAttempts: number;
  /** Log index of the submit-job command. */
  readonly submitIndex: number;
  readonly submittedAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /**
   * Set once every reduce completed (state `verifying` and after): @tessera/matrix outputDigest
   * of the output tiles as reported. Cleared if a reduce is reset before the verdict.
   */
  readonly outputDigest: string | null;
  /** When every reduce completed (null: not yet, or a reduce was reset since). */
  readonly computedAt: number | null;
  /** The storage-manager's verdict (job-verified): null until one is accepted. */
  readonly verified: boolean | null;
  /** taskId null: the job failed verification (reason from the verdict). */
  readonly failure: { readonly taskId: string | null; readonly reason: string } | null;
  readonly counts: JobCounts;
}

export interface JobListFilter {
  /** Keep only this many finished jobs (succeeded, failed, cancelled), the latest to finish. */
  readonly finishedLatest?: number;
}

export interface LiveAttemptView {
  readonly jobId: string;
  readonly taskId: string;
  readonly kind: "map" | "reduce";
  readonly attempt: number;
  readonly nodeId: string | null;
  readonly startedAt: number;
  readonly deadlineAt: number | null;
  readonly speculative: boolean;
  readonly claimedAt: number | null;
  /** Started by attempt-start-batch: its batch id (work travels as one WorkBatchV1). */
  readonly batch: string | null;
}

export interface TaskView {
  readonly jobId: string;
  readonly taskId: string;
  readonly kind: "map" | "reduce";
  readonly i: number;
  readonly j: number;
  /** Map only. */
  readonly k?: number;
  readonly state: TaskStateName;
  /** Highest attempt number started (0: never); the next attempt-start must use this + 1. */
  readonly lastAttempt: number;
  readonly retries: number;
  readonly failures: number;
  /** task-resets applied to this task (saturates at 255). */
  readonly resets: number;
  /** Could an attempt-start for lastAttempt + 1 succeed now (ignoring node checks)? */
  readonly runnable: boolean;
  readonly live: readonly LiveAttemptView[];
  readonly output: {
    readonly uri: string;
    readonly checksum: string;
    readonly bytes: number;
    readonly attempt: number;
    /** The storage-manager checked it durable (output-verified). */
    readonly verified: boolean;
  } | null;
}

export interface RunnableTask {
  readonly jobId: string;
  readonly taskId: string;
  readonly kind: "map" | "reduce";
  readonly i: number;
  readonly j: number;
  /** Map only. */
  readonly k?: number;
  /** The attempt number an attempt-start must carry. */
  readonly nextAttempt: number;
  readonly retries: number;
}

export interface NodeView {
  readonly nodeId: string;
  readonly labels: NodeLabels;
  readonly capacity: NodeCapacity;
  readonly executionProvider: "cpu" | "cuda";
  readonly state: "active" | "failed";
  readonly drained: boolean;
  /** Why the node was drained, when the drain said (null otherwise). */
  readonly drainReason: string | null;
  readonly joinedAt: number;
  readonly lastUpsertAt: number;
  readonly failedAt: number | null;
  readonly failReason: string | null;
  /** Live attempts bound to this node. */
  readonly liveAttempts: number;
}

export interface ManifestStats {
  readonly appliedIndex: number;
  readonly jobs: number;
  readonly tasks: number;
  readonly liveAttempts: number;
  readonly nodes: number;
  readonly sessions: number;
  readonly emergencyStop: boolean;
  /** Resident bytes of the per-task columns. */
  readonly taskBytes: number;
}

type Result = Record<string, unknown>;

const SNAPSHOT_MAGIC = 0x4d465354; // "TSFM" little-endian
/**
 * The newest format: restore() reads versions 1..7 (see README "Snapshot format"). v4 appends
 * the deleted job ids; v5 writes job records of format 4 (live attempts' batch); v6 of format 5
 * (armed attempts); v7 adds node drain reasons and, last, the feature level. snapshot() writes v7
 * only once the cluster's feature level is 2 or more, so that peers that cannot read it never
 * receive one (feature-levels.ts in libs/protocol).
 */
export const SNAPSHOT_VERSION = 7;
/** The format written while the cluster is at feature level 1. */
const LEVEL_1_SNAPSHOT_VERSION = 6;
const OLDEST_SNAPSHOT_VERSION = 1;

/** The job record format a snapshot of `version` holds (v1..3 as numbered, then version − 1). */
function jobFormatOf(snapshotVersion: number): number {
  return snapshotVersion <= 3 ? snapshotVersion : snapshotVersion - 1;
}
const HEADER_BYTES = 20;

const decoder = new TextDecoder();

function reject(code: ManifestReplyCode, reason: string): never {
  throw new ManifestRejection(code, reason);
}

function nodeField(nodeId: string | null): { nodeId?: string } {
  return nodeId === null ? {} : { nodeId };
}

/**
 * An "empty" job's tasks store nothing and must report exactly the empty output of their key;
 * a job that computes must not report one (an agent that skipped the work would pass otherwise).
 */
function checkOutputForMode(job: Job, t: TaskRef, output: AttemptCompleteCommand["output"]): void {
  if (job.spec.mode === "empty") {
    const want = emptyOutput(job.keyOf(t));
    if (
      output.uri !== want.uri ||
      output.checksum !== want.checksum ||
      output.bytes !== want.bytes
    ) {
      reject(
        "bad-output",
        `${job.id}/${t.taskId} is a task of an empty job: its output must be ${want.uri} (0 bytes, checksum ${want.checksum}), got ${output.uri} (${output.bytes} bytes, checksum ${output.checksum})`,
      );
    }
  } else if (output.uri.startsWith(EMPTY_OUTPUT_SCHEME)) {
    reject(
      "bad-output",
      `${job.id}/${t.taskId} computes (mode ${job.spec.mode}): an empty output (${output.uri}) stores nothing`,
    );
  }
}

function sameSpec(a: MatmulJobSpec, b: MatmulJobSpec): boolean {
  return (
    a.n === b.n &&
    a.tile === b.tile &&
    a.mode === b.mode &&
    a.seed === b.seed &&
    (a.kPerMap ?? 1) === (b.kPerMap ?? 1)
  );
}

export class ManifestFsm implements StateMachine {
  readonly limits: ManifestLimits;
  private readonly sessionOptions: Partial<SessionOptions>;

  private applied = 0;
  private appliedTerm = 0;
  /** Monotone log time: max of every stampedAt applied so far. */
  private now = 0;
  /**
   * While a report with a Handover applies (attempt-complete / attempt-report-batch): the pool,
   * how many armed attempts it may still take and the work items handed so far (its reply).
   */
  private handover: { readonly pool: string; left: number; readonly items: WorkItemV1[] } | null =
    null;
  private emergencyStop = false;
  private jobs = new Map<string, Job>();
  /**
   * Ids of deleted jobs, kept so that an id is never reused: the storage-manager deletes a
   * deleted job's objects by its id, and a new job under that id could lose its outputs to it.
   */
  private deletedJobs = new Set<string>();
  private nodes = new Map<string, NodeRecord>();
  private sessions: SessionTable;
  private totalTasks = 0;
  /** The cluster's feature level: raised only by a committed cluster-level command. */
  private clusterLevel = BASE_FEATURE_LEVEL;
  private readonly supportedLevel: number;

  /** Events of the entry being applied. */
  private events: ManifestEventOut[] = [];

  constructor(options: ManifestFsmOptions = {}) {
    const limits = { ...DEFAULT_MANIFEST_LIMITS, ...options.limits };
    for (const [field, v] of Object.entries(limits)) {
      if (!Number.isSafeInteger(v) || v <= 0) {
        throw new FsmOptionsError(`limits.${field}`, `must be a positive integer, got ${v}`);
      }
    }
    if (limits.defaultMaxAttempts > 255) {
      throw new FsmOptionsError("limits.defaultMaxAttempts", "must be <= 255");
    }
    this.limits = limits;
    const level = options.featureLevel ?? MANIFEST_FEATURE_LEVEL;
    if (
      !Number.isSafeInteger(level) ||
      level < BASE_FEATURE_LEVEL ||
      level > MANIFEST_FEATURE_LEVEL
    ) {
      throw new FsmOptionsError(
        "featureLevel",
        `must be an integer between ${BASE_FEATURE_LEVEL} and ${MANIFEST_FEATURE_LEVEL}, got ${level}`,
      );
    }
    this.supportedLevel = level;
    this.sessionOptions = options.sessions ?? {};
    this.sessions = new SessionTable(this.sessionOptions);
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** Term of the last applied entry. */
  get lastAppliedTerm(): number {
    return this.appliedTerm;
  }

  /** The manifest's clock: the largest stampedAt applied so far (ms since the epoch). */
  get logTime(): number {
    return this.now;
  }

  get emergencyStopEngaged(): boolean {
    return this.emergencyStop;
  }

  /** The level the cluster has committed, and the highest this peer can apply. */
  get featureLevel(): { readonly cluster: number; readonly supported: number } {
    return { cluster: this.clusterLevel, supported: this.supportedLevel };
  }

  // ---------------------------------------------------------------------------------------------
  // Apply

  apply(cmd: CommittedCommand): ApplyOutcome {
    const out = this.applyBatch({
      index: cmd.index,
      term: cmd.term,
      stampedAt: cmd.stampedAt,
      commands: [cmd.data],
    });
    return { reply: out.replies[0] as Uint8Array, events: out.events };
  }

  applyBatch(entry: CommittedBatch): BatchApplyOutcome {
    if (entry.index <= this.applied) {
      // Re-delivery of an already applied entry (e.g. after restoring a newer snapshot): no-op.
      const reply = this.encodeReply({
        ok: false,
        code: "internal-error",
        reason: `entry ${entry.index} is at or below the applied index ${this.applied}; ignored`,
      });
      return { replies: entry.commands.map(() => reply), events: [] };
    }
    this.applied = entry.index;
    this.appliedTerm = entry.term;
    if (Number.isFinite(entry.stampedAt) && entry.stampedAt > this.now) this.now = entry.stampedAt;
    this.events = [];
    const replies = entry.commands.map((data, position) =>
      this.applyCommand(data, entry.index, position),
    );
    return { replies, events: this.events };
  }

  /** One command of the entry at `index`; `position` is its place in a batch entry (else 0). */
  private applyCommand(data: Uint8Array, index: number, position: number): Uint8Array {
    if (data.byteLength > this.limits.maxCommandBytes) {
      return this.encodeReply({
        ok: false,
        code: "oversized",
        reason: `command of ${data.byteLength} bytes exceeds the limit of ${this.limits.maxCommandBytes} bytes`,
      });
    }
    let env: CommandEnvelope;
    try {
      const checked = commandEnvelopeCodec.check(
        decodeJson(commandEnvelopeCodec.what, data, this.limits.maxCommandBytes),
      );
      if (!checked.ok) throw checked.error;
      env = checked.value;
    } catch (e) {
      const reason = e instanceof ProtocolError ? e.message : `undecodable command: ${String(e)}`;
      return this.encodeReply({ ok: false, code: "schema-error", reason });
    }
    if (env.cmd.type === "cluster-level" && env.cmd.level > this.supportedLevel) {
      throw new FeatureLevelError(this.supportedLevel, env.cmd.level, index);
    }
    const need = requiredFeatureLevel(env.cmd);
    if (need.level > this.clusterLevel) {
      // Refused before the session, like a schema error (which is what a peer that predates
      // levels answers): every peer's session table stays the same, and the seq may run once
      // the level is raised.
      return this.encodeReply({
        ok: false,
        code: "feature-unavailable",
        reason: `${need.feature} needs cluster feature level ${need.level}; the cluster runs at level ${this.clusterLevel} until every consensus peer supports ${need.level} (upgrade them, or raise their --feature-level)`,
      });
    }

    const session = this.sessions.check(env.clientId, env.seq, env.ackedSeq ?? 0, this.now);
    if (session.kind === "duplicate") {
      const first = JSON.parse(decoder.decode(session.reply)) as ManifestReply;
      return this.encodeReply({ ...first, duplicate: true });
    }
    if (session.kind === "stale") {
      return this.encodeReply({
        ok: false,
        code: "stale-seq",
        reason: `seq ${env.seq} of client ${JSON.stringify(env.clientId)} is at or below the session floor ${session.floor}; its reply is no longer kept and it will not run again`,
      });
    }
    const reply = this.execute(env.cmd, index, position);
    const bytes = this.encodeReply(reply);
    this.sessions.record(env.clientId, env.seq, bytes);
    return bytes;
  }

  private encodeReply(reply: ManifestReply): Uint8Array {
    // Buffer.from beats TextEncoder.encode for short strings on Node 20 (pooled allocation).
    return Buffer.from(JSON.stringify(reply), "utf8");
  }

  private execute(cmd: ManifestCommand, index: number, position: number): ManifestReply {
    try {
      const result = this.dispatch(cmd, index, position);
      return result === undefined ? { ok: true } : { ok: true, result };
    } catch (e) {
      if (e instanceof ManifestRejection) return { ok: false, code: e.code, reason: e.reason };
      // A bug, not a bad command. Every replica hits it at the same index, so answering (rather
      // than throwing into the host) keeps the replicas identical and the log moving.
      return {
        ok: false,
        code: "internal-error",
        reason: `${cmd.type} failed: ${e instanceof Error ? e.message : String(e)}`,
      };
    }
  }

  private dispatch(cmd: ManifestCommand, index: number, position: number): Result | undefined {
    switch (cmd.type) {
      case "submit-job":
        return this.submitJob(cmd, index, position);
      case "job-control":
        return this.jobControl(cmd);
      case "emergency-stop":
        return this.setEmergencyStop(cmd);
      case "attempt-start":
        return this.attemptStart(cmd);
      case "attempt-start-batch":
        return this.attemptStartBatch(cmd);
      case "attempt-claim":
        return this.attemptClaim(cmd);
      case "attempt-complete":
        return this.withHandover(cmd.handover, () => this.attemptComplete(cmd));
      case "attempt-fail":
        return this.attemptFail(cmd);
      case "attempt-report-batch":
        return this.withHandover(cmd.handover, () => this.attemptReportBatch(cmd));
      case "attempt-expire":
        return this.attemptExpire(cmd);
      case "task-reset":
        return this.taskReset(cmd);
      case "output-verified":
        return this.outputVerified(cmd);
      case "outputs-verified":
        return this.outputsVerified(cmd);
      case "job-verified":
        return this.jobVerified(cmd);
      case "node-upsert":
        return this.nodeUpsert(cmd);
      case "node-failed":
        return this.nodeFailed(cmd);
      case "node-drain":
        return this.nodeDrain(cmd);
      case "cluster-level":
        return this.raiseFeatureLevel(cmd);
      case "noop":
        return { index };
    }
  }

  private emit(e: ManifestEvent): void {
    this.events.push({ category: e.category, body: e });
  }

  // ---------------------------------------------------------------------------------------------
  // Jobs and controls

  private submitJob(c: SubmitJobCommand, index: number, position: number): Result {
    // A submit without an id is named after its log index (and its place in a batch entry, so
    // two submits packed into one entry get different ids).
    const jobId = c.jobId ?? (position === 0 ? `job-${index}` : `job-${index}-${position}`);
    if (this.deletedJobs.has(jobId)) {
      reject("job-exists", `job ${jobId} existed and was deleted; job ids are never reused`);
    }
    const existing = this.jobs.get(jobId);
    if (existing) {
      // A client retrying a submit without its session (new clientId) gets the same job back.
      if (c.jobId !== undefined && sameSpec(existing.spec, c.spec)) {
        return { jobId, existing: true, state: existing.state, tasks: existing.total };
      }
      reject("job-exists", `job ${jobId} already exists with a different spec`);
    }
    if (this.jobs.size >= this.limits.maxJobs) {
      reject(
        "capacity-exceeded",
        `the manifest holds ${this.jobs.size} jobs (limit ${this.limits.maxJobs}); delete finished ones (tessera job delete ID)`,
      );
    }
    const K = c.spec.n / c.spec.tile;
    const kPerMap = c.spec.kPerMap ?? 1;
    const tasks = (K * K * K) / kPerMap + K * K;
    if (tasks > this.limits.maxTasksPerJob) {
      reject(
        "job-too-large",
        `spec n=${c.spec.n} tile=${c.spec.tile} kPerMap=${kPerMap} gives ${tasks} tasks (K=${K}); the limit is ${this.limits.maxTasksPerJob} per job`,
      );
    }
    if (this.totalTasks + tasks > this.limits.maxTotalTasks) {
      reject(
        "capacity-exceeded",
        `the manifest holds ${this.totalTasks} tasks; ${tasks} more exceed the limit of ${this.limits.maxTotalTasks}; delete finished jobs (tessera job delete ID)`,
      );
    }
    const maxAttempts = c.maxAttempts ?? this.limits.defaultMaxAttempts;
    const job = new Job(jobId, c.spec, maxAttempts, index, this.now);
    this.jobs.set(jobId, job);
    this.totalTasks += job.total;
    this.emit({
      category: "job",
      type: "submitted",
      jobId,
      spec: job.spec,
      maps: job.maps,
      reduces: job.reduces,
      maxAttempts,
    });
    return { jobId, state: job.state, maps: job.maps, reduces: job.reduces };
  }

  private job(jobId: string): Job {
    const job = this.jobs.get(jobId);
    if (!job) reject("unknown-job", `job ${JSON.stringify(jobId)} does not exist`);
    return job;
  }

  private jobControl(c: JobControlCommand): Result {
    if (c.action === "delete") return this.deleteJob(c.jobId);
    const job = this.job(c.jobId);
    const before = job.state;
    if (isTerminal(job.state)) {
      if (c.action === "cancel" && job.state === "cancelled") {
        return { jobId: job.id, state: job.state, changed: false };
      }
      reject("job-finished", `job ${job.id} is ${job.state}; ${c.action} is not possible`);
    }
    if (job.state === "verifying" && c.action !== "cancel") {
      // Nothing is left to start: pause and resume have nothing to hold back (documented).
      return { jobId: job.id, state: job.state, changed: false };
    }
    switch (c.action) {
      case "pause":
        if (job.state !== "paused") {
          job.state = "paused";
          this.emit({ category: "job", type: "paused", jobId: job.id });
        }
        break;
      case "resume":
        if (job.state === "paused") {
          const state = job.startedAt >= 0 ? "running" : "queued";
          job.state = state;
          this.emit({ category: "job", type: "resumed", jobId: job.id, state });
        }
        break;
      case "cancel": {
        job.state = "cancelled";
        job.finishedAt = this.now;
        const released = this.releaseAll(job, "job-cancelled");
        this.emit({ category: "job", type: "cancelled", jobId: job.id, released });
        break;
      }
    }
    return { jobId: job.id, state: job.state, changed: job.state !== before };
  }

  /** Removes a finished job for good (idempotent: deleting a deleted job changes nothing). */
  private deleteJob(jobId: string): Result {
    if (this.deletedJobs.has(jobId)) return { jobId, state: "deleted", changed: false };
    const job = this.job(jobId);
    if (!isTerminal(job.state)) {
      reject(
        "job-not-finished",
        `job ${job.id} is ${job.state}; only a succeeded, failed or cancelled job can be deleted (cancel it first)`,
      );
    }
    this.jobs.delete(job.id);
    this.deletedJobs.add(job.id);
    this.totalTasks -= job.total;
    this.emit({ category: "job", type: "deleted", jobId: job.id });
    return { jobId: job.id, state: "deleted", changed: true };
  }

  private setEmergencyStop(c: EmergencyStopCommand): Result {
    if (c.engaged === this.emergencyStop)
      return { engaged: c.engaged, changed: false, released: 0 };
    this.emergencyStop = c.engaged;
    let released = 0;
    if (c.engaged) {
      for (const job of this.jobs.values()) {
        if (!isTerminal(job.state)) released += this.releaseAll(job, "emergency-stop");
      }
    }
    this.emit({ category: "control", type: "emergency-stop", engaged: c.engaged, released });
    return { engaged: c.engaged, changed: true, released };
  }

  /** Ends every live attempt of a job (events per attempt); tasks go back to pending. */
  private releaseAll(job: Job, reason: ReleaseReason): number {
    let released = 0;
    for (const [t, list] of job.live) {
      const ref = job.taskAt(t);
      for (const a of list) this.emitReleased(job, ref, a, reason);
      released += list.length;
      if (job.tasks.state[t] === RUNNING) job.tasks.state[t] = PENDING;
      this.lowerHint(job, t);
    }
    job.live.clear();
    job.liveAttempts = 0;
    return released;
  }

  private emitReleased(job: Job, t: TaskRef, a: LiveAttempt, reason: ReleaseReason): void {
    this.emit({
      category: "task",
      type: "attempt-released",
      jobId: job.id,
      taskId: t.taskId,
      attempt: a.attempt,
      ...nodeField(a.nodeId),
      reason,
    });
  }

  private lowerHint(job: Job, t: number): void {
    if (t < job.maps) {
      if (t < job.mapHint) job.mapHint = t;
    } else if (t - job.maps < job.reduceHint) {
      job.reduceHint = t - job.maps;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Attempts (fencing)

  /**
   * Checks a node may take work. `claim` is lenient: an agent may claim before its first
   * heartbeat's node-upsert reaches the log, and a drained node may still pick up an attempt
   * placed on it before the drain; only a node declared failed is fenced off.
   */
  private checkNode(nodeId: string, mode: "start" | "claim"): void {
    const node = this.nodes.get(nodeId);
    if (!node) {
      if (mode === "claim") return;
      reject("unknown-node", `node ${nodeId} is not registered (no node-upsert yet)`);
    }
    if (node.state === "failed") {
      reject("node-unavailable", `node ${nodeId} was declared failed (${node.failReason})`);
    }
    if (node.drained && mode === "start") {
      reject("node-unavailable", `node ${nodeId} is drained and may not start new attempts`);
    }
  }

  /** The live attempt `attempt` of task t, or a `stale-attempt` rejection saying why not. */
  private liveAttempt(job: Job, t: TaskRef, attempt: number): LiveAttempt {
    const a = job.live.get(t.ordinal)?.find((x) => x.attempt === attempt);
    if (a) return a;
    const state = TASK_STATES[job.tasks.state[t.ordinal] ?? 0];
    const last = job.tasks.lastAttempt[t.ordinal] ?? 0;
    const liveNums = (job.live.get(t.ordinal) ?? []).map((x) => x.attempt);
    const why =
      attempt > last
        ? `was never started (last attempt ${last})`
        : `is no longer live (task ${state}; live attempts: ${liveNums.length > 0 ? liveNums.join(", ") : "none"})`;
    reject("stale-attempt", `attempt ${attempt} of ${job.id}/${t.taskId} ${why}`);
  }

  private removeLive(job: Job, t: number, a: LiveAttempt): LiveAttempt[] {
    const list = job.live.get(t) ?? [];
    const rest = list.filter((x) => x !== a);
    if (rest.length > 0) job.live.set(t, rest);
    else job.live.delete(t);
    job.liveAttempts -= list.length - rest.length;
    return rest;
  }

  /**
   * Each start judged as a lone attempt-start would be; the accepted ones form one batch named
   * after the first of them (unique: that attempt starts here and nowhere else).
   */
  private attemptStartBatch(c: AttemptStartBatchCommand): Result {
    let batch: string | null = null;
    const started: { taskId: string; attempt: number }[] = [];
    const refused: { taskId: string; attempt: number; code: string; reason: string }[] = [];
    for (const s of c.starts) {
      const name: string = batch ?? `${c.jobId}/${s.taskId}/${s.attempt}`;
      try {
        this.attemptStart({ type: "attempt-start", jobId: c.jobId, ...s }, name);
        batch = name;
        started.push({ taskId: s.taskId, attempt: s.attempt });
      } catch (e) {
        if (!(e instanceof ManifestRejection)) throw e;
        refused.push({ taskId: s.taskId, attempt: s.attempt, code: e.code, reason: e.reason });
      }
    }
    return { jobId: c.jobId, batch, started, refused };
  }

  /**
   * Applies a report with the armed attempts it starts handed over (`handed` in the result, see
   * startArmed) when it carries a Handover.
   */
  private withHandover(h: Handover | undefined, apply: () => Result): Result {
    if (!h) return apply();
    this.handover = { pool: h.pool, left: h.max, items: [] };
    try {
      const result = apply();
      if (this.handover.items.length > 0) result.handed = this.handover.items;
      return result;
    } finally {
      this.handover = null;
    }
  }

  /** Each report applied as a lone attempt-complete / attempt-fail would be. */
  private attemptReportBatch(c: AttemptReportBatchCommand): Result {
    let applied = 0;
    const refused: { taskId: string; attempt: number; code: string; reason: string }[] = [];
    for (const r of c.reports) {
      try {
        if (r.type === "attempt-complete") this.attemptComplete(r);
        else this.attemptFail(r);
        applied++;
      } catch (e) {
        if (!(e instanceof ManifestRejection)) throw e;
        refused.push({ taskId: r.taskId, attempt: r.attempt, code: e.code, reason: e.reason });
      }
    }
    return { applied, refused };
  }

  /**
   * `batch`: the attempt-start-batch that carries it; `armed`: an armed attempt started by the
   * completion being applied (the event says so: nobody proposed this start now).
   */
  private attemptStart(
    c: AttemptStartCommand,
    batch: string | null = null,
    armed: "armed" | "handed" | false = false,
  ): Result {
    const job = this.job(c.jobId);
    if (isTerminal(job.state)) reject("job-finished", `job ${job.id} is ${job.state}`);
    if (job.state === "paused") reject("job-paused", `job ${job.id} is paused`);
    if (this.emergencyStop)
      reject("emergency-stop", "emergency stop is engaged; no attempt may start");
    const t = job.resolve(c.taskId);
    const { tasks } = job;
    const state = tasks.state[t.ordinal];
    if (state === DONE) {
      reject(
        "task-complete",
        `${job.id}/${t.taskId} already completed (attempt ${tasks.winAttempt[t.ordinal]})`,
      );
    }
    if (state === FAILED) reject("task-failed", `${job.id}/${t.taskId} failed permanently`);
    if (t.kind === "reduce" && !job.reduceReady(t.ordinal - job.maps)) {
      if (c.whenReady === true) return this.arm(job, t.ordinal, c);
      reject(
        "not-runnable",
        `reduce ${job.id}/${t.taskId} has ${job.partialsDone[t.ordinal - job.maps]} of ${job.G} partials complete`,
      );
    }
    if (t.kind === "map" && !job.mapNeeded(t.ordinal)) {
      reject(
        "not-runnable",
        `map ${job.id}/${t.taskId} was reset after its reduce ${job.taskAt(job.maps + job.reduceOfMap(t.ordinal)).taskId} completed; it is not needed unless that reduce is reset`,
      );
    }
    const expected = (tasks.lastAttempt[t.ordinal] ?? 0) + 1;
    if (c.attempt !== expected) {
      reject(
        "stale-attempt",
        `attempt ${c.attempt} of ${job.id}/${t.taskId} is not the next attempt (expected ${expected})`,
      );
    }
    if (c.nodeId !== undefined) this.checkNode(c.nodeId, "start");
    const live = job.live.get(t.ordinal) ?? [];
    if (live.length >= 2) {
      reject("task-busy", `${job.id}/${t.taskId} already has a live and a speculative attempt`);
    }
    if (live.length === 1 && c.speculative !== true) {
      reject(
        "task-busy",
        `${job.id}/${t.taskId} has live attempt ${live[0]?.attempt}; start a speculative attempt or expire it first`,
      );
    }

    const speculative = live.length === 1;
    const a: LiveAttempt = {
      attempt: c.attempt,
      nodeId: c.nodeId ?? null,
      startedAt: this.now,
      deadlineAt: c.deadlineAt ?? -1,
      speculative,
      claimedAt: -1,
      batch,
    };
    job.live.set(t.ordinal, [...live, a]);
    job.liveAttempts++;
    job.attempts += c.attempt - (tasks.lastAttempt[t.ordinal] ?? 0);
    tasks.lastAttempt[t.ordinal] = c.attempt;
    tasks.state[t.ordinal] = RUNNING;
    if (job.state === "queued") {
      job.state = "running";
      job.startedAt = this.now;
      this.emit({ category: "job", type: "started", jobId: job.id });
    }
    this.emit({
      category: "task",
      type: "started",
      jobId: job.id,
      taskId: t.taskId,
      attempt: c.attempt,
      kind: t.kind,
      ...nodeField(a.nodeId),
      speculative,
      ...(c.deadlineAt === undefined ? {} : { deadlineAt: c.deadlineAt }),
      ...(batch === null ? {} : { batch }),
      ...(armed ? { armed: true } : {}),
      ...(armed === "handed" ? { handed: true } : {}),
    });
    return { jobId: job.id, taskId: t.taskId, attempt: c.attempt, speculative };
  }

  /**
   * Arms `c` for reduce `ordinal` (not yet runnable; job, task state and node already checked).
   * Arming again with the same attempt is a repeat (a retried proposal, a second scheduler):
   * the same answer. It consumes no attempt number until it starts.
   */
  private arm(job: Job, ordinal: number, c: AttemptStartCommand): Result {
    const taskId = job.taskAt(ordinal).taskId;
    if (c.speculative === true) {
      reject(
        "not-runnable",
        `reduce ${job.id}/${taskId} is not runnable yet; nothing to speculate on`,
      );
    }
    const expected = (job.tasks.lastAttempt[ordinal] ?? 0) + 1;
    if (c.attempt !== expected) {
      reject(
        "stale-attempt",
        `attempt ${c.attempt} of ${job.id}/${taskId} is not the next attempt (expected ${expected})`,
      );
    }
    if ((job.live.get(ordinal)?.length ?? 0) > 0) {
      reject("task-busy", `${job.id}/${taskId} already has a live attempt`);
    }
    const held = job.armed.get(ordinal);
    if (held)
      return { jobId: job.id, taskId, attempt: held.attempt, armed: true, alreadyArmed: true };
    if (c.nodeId !== undefined) this.checkNode(c.nodeId, "start");
    job.armed.set(ordinal, {
      attempt: c.attempt,
      nodeId: c.nodeId ?? null,
      armedAt: this.now,
      deadlineAt: c.deadlineAt ?? -1,
    });
    this.emit({
      category: "task",
      type: "armed",
      jobId: job.id,
      taskId,
      attempt: c.attempt,
      ...(c.nodeId === undefined ? {} : { nodeId: c.nodeId }),
    });
    return { jobId: job.id, taskId, attempt: c.attempt, armed: true };
  }

  /**
   * Reduce `r` just became runnable through `reporter`'s completion: its armed attempt, if any,
   * starts in this entry; if it may not start now (paused, emergency stop, node gone) the arming
   * is dropped and the reduce waits for an ordinary attempt-start. Under a Handover with room
   * left, the attempt is bound to the reporter (when it may start work and the arming named no
   * other node) and its work item goes into the reply instead of being published.
   */
  private startArmed(job: Job, r: number, reporter: string): void {
    const ordinal = job.maps + r;
    const a = job.armed.get(ordinal);
    if (!a) return;
    job.armed.delete(ordinal);
    const t = job.taskAt(ordinal);
    const h = this.handover;
    const handTo =
      h !== null &&
      h.left > 0 &&
      (a.nodeId === null || a.nodeId === reporter) &&
      this.mayStartOn(reporter)
        ? reporter
        : null;
    const nodeId = handTo ?? a.nodeId;
    const deadlineAt = this.armedDeadline(a);
    const cmd: AttemptStartCommand = {
      type: "attempt-start",
      jobId: job.id,
      taskId: t.taskId,
      attempt: a.attempt,
      ...(nodeId === null ? {} : { nodeId }),
      ...(deadlineAt === undefined ? {} : { deadlineAt }),
    };
    try {
      this.attemptStart(cmd, null, handTo === null ? "armed" : "handed");
    } catch (e) {
      if (!(e instanceof ManifestRejection)) throw e;
      this.emit({
        category: "task",
        type: "disarmed",
        jobId: job.id,
        taskId: t.taskId,
        attempt: a.attempt,
        reason: `${e.code}: ${e.reason}`,
      });
      return;
    }
    if (h === null || handTo === null) return;
    h.left--;
    h.items.push(this.handedItem(job, ordinal, a, h.pool));
  }

  /** An armed attempt's deadline once it starts now: the scheduler's keeps its distance from the start. */
  private armedDeadline(a: ArmedAttempt): number | undefined {
    return a.deadlineAt < 0 ? undefined : this.now + (a.deadlineAt - a.armedAt);
  }

  /** The work item of armed attempt `a` of task `ordinal` started now and handed over in `pool`. */
  private handedItem(job: Job, ordinal: number, a: ArmedAttempt, pool: string): WorkItemV1 {
    return buildWorkItem({
      ...job.taskAt(ordinal),
      jobId: job.id,
      attempt: a.attempt,
      k: undefined,
      job: job.spec,
      pool,
      issuedAt: this.now,
      deadlineMs: this.armedDeadline(a),
    });
  }

  /**
   * The work items applying `cmd` (an attempt-complete or attempt-report-batch with a Handover)
   * to the manifest as it stands would hand over, found without changing anything: what the
   * leader may send the reporting agent before the command commits (an early hand-over,
   * services/consensus/src/fsm/README.md, "Armed reduces"). It follows the checks
   * attemptComplete → startArmed → attemptStart make, in the same order. Entries proposed but
   * not applied yet can make it wrong either way (a pause, a reset, another report of the same
   * map); only the committed reply binds an attempt, and a report of work the manifest never
   * started is refused.
   */
  previewHandover(cmd: ManifestCommand): WorkItemV1[] {
    if (cmd.type !== "attempt-complete" && cmd.type !== "attempt-report-batch") return [];
    const h = cmd.handover;
    if (!h || this.emergencyStop) return [];
    const items: WorkItemV1[] = [];
    /** Partials this command completes, per `${jobId}/${reduce}`, and the maps completing them. */
    const adds = new Map<string, number>();
    const completes = new Set<string>();
    for (const c of cmd.type === "attempt-complete" ? [cmd] : cmd.reports) {
      if (items.length >= h.max) break;
      if (c.type !== "attempt-complete") continue;
      const job = this.jobs.get(c.jobId);
      if (!job || isTerminal(job.state) || job.state === "paused") continue;
      let m: number;
      try {
        m = job.resolve(c.taskId).ordinal;
      } catch (e) {
        if (!(e instanceof ManifestRejection)) throw e;
        continue;
      }
      if (m >= job.maps || job.tasks.state[m] === DONE) continue;
      const a = job.live.get(m)?.find((x) => x.attempt === c.attempt);
      if (!a || (a.nodeId !== null && a.nodeId !== c.nodeId)) continue;
      // A second report of the same map in one batch (its twin) would lose the race.
      if (completes.has(`${job.id}/${m}`)) continue;
      completes.add(`${job.id}/${m}`);
      const r = job.reduceOfMap(m);
      const key = `${job.id}/${r}`;
      const added = (adds.get(key) ?? 0) + 1;
      adds.set(key, added);
      const ordinal = job.maps + r;
      const armed = job.armed.get(ordinal);
      if (
        (job.partialsDone[r] ?? 0) + added === job.G &&
        job.tasks.state[ordinal] === PENDING &&
        armed !== undefined &&
        (armed.nodeId === null || armed.nodeId === c.nodeId) &&
        armed.attempt === (job.tasks.lastAttempt[ordinal] ?? 0) + 1 &&
        (job.live.get(ordinal)?.length ?? 0) === 0 &&
        this.mayStartOn(c.nodeId)
      ) {
        items.push(this.handedItem(job, ordinal, armed, h.pool));
      }
    }
    return items;
  }

  /** Whether `nodeId` may start an attempt now (registered, not failed, not drained). */
  private mayStartOn(nodeId: string): boolean {
    try {
      this.checkNode(nodeId, "start");
      return true;
    } catch (e) {
      if (e instanceof ManifestRejection) return false;
      throw e;
    }
  }

  private attemptClaim(c: AttemptClaimCommand): Result {
    const job = this.job(c.jobId);
    if (isTerminal(job.state)) reject("job-finished", `job ${job.id} is ${job.state}`);
    const t = job.resolve(c.taskId);
    const a = this.liveAttempt(job, t, c.attempt);
    this.checkNode(c.nodeId, "claim");
    if (a.nodeId !== null && a.nodeId !== c.nodeId) {
      reject(
        "stale-attempt",
        `attempt ${c.attempt} of ${job.id}/${t.taskId} is placed on node ${a.nodeId}, not ${c.nodeId}`,
      );
    }
    if (a.claimedAt >= 0) {
      return { jobId: job.id, taskId: t.taskId, attempt: a.attempt, alreadyClaimed: true };
    }
    a.nodeId = c.nodeId;
    a.claimedAt = this.now;
    this.emit({
      category: "task",
      type: "claimed",
      jobId: job.id,
      taskId: t.taskId,
      attempt: a.attempt,
      nodeId: c.nodeId,
    });
    return { jobId: job.id, taskId: t.taskId, attempt: a.attempt, alreadyClaimed: false };
  }

  private attemptComplete(c: AttemptCompleteCommand): Result {
    const job = this.job(c.jobId);
    const t = job.resolve(c.taskId);
    const { tasks } = job;
    checkOutputForMode(job, t, c.output);
    const checksum = Number.parseInt(c.output.checksum, 16) >>> 0;
    if (tasks.state[t.ordinal] === DONE) {
      const won = tasks.winAttempt[t.ordinal];
      if (won === c.attempt) {
        if (
          tasks.crc[t.ordinal] === checksum &&
          tasks.bytes[t.ordinal] === c.output.bytes &&
          job.uriOf(t) === c.output.uri
        ) {
          // The winner re-reporting (agents publish at least once; an ingestion retry has no
          // session): same answer, no state change, no events — whatever the job's state.
          return {
            jobId: job.id,
            taskId: t.taskId,
            attempt: c.attempt,
            alreadyComplete: true,
            jobState: job.state,
          };
        }
        reject(
          "stale-attempt",
          `${job.id}/${t.taskId} attempt ${c.attempt} already completed with a different output (checksum ${formatCrc32c(tasks.crc[t.ordinal] ?? 0)}, ${tasks.bytes[t.ordinal]} bytes)`,
        );
      }
      reject(
        "stale-attempt",
        `${job.id}/${t.taskId} was already completed by attempt ${won}; attempt ${c.attempt} lost`,
      );
    }
    if (isTerminal(job.state)) reject("job-finished", `job ${job.id} is ${job.state}`);
    const a = this.liveAttempt(job, t, c.attempt);
    if (a.nodeId !== null && a.nodeId !== c.nodeId) {
      reject(
        "stale-attempt",
        `attempt ${c.attempt} of ${job.id}/${t.taskId} is held by node ${a.nodeId}, not ${c.nodeId}`,
      );
    }

    // First completion wins: record the output, release any other live attempt.
    const losers = this.removeLive(job, t.ordinal, a);
    for (const l of losers) this.removeLive(job, t.ordinal, l);
    tasks.state[t.ordinal] = DONE;
    tasks.winAttempt[t.ordinal] = c.attempt;
    tasks.crc[t.ordinal] = checksum;
    tasks.bytes[t.ordinal] = c.output.bytes;
    job.setUri(t, c.output.uri);
    this.emit({
      category: "task",
      type: "completed",
      jobId: job.id,
      taskId: t.taskId,
      attempt: c.attempt,
      kind: t.kind,
      nodeId: c.nodeId,
      output: { uri: c.output.uri, checksum: c.output.checksum, bytes: c.output.bytes },
      ...(c.timings ? { runMs: c.timings.totalMs } : {}),
    });
    for (const l of losers) this.emitReleased(job, t, l, "lost-race");

    const result: Result = { jobId: job.id, taskId: t.taskId, attempt: c.attempt };
    if (t.kind === "map") {
      job.mapsDone++;
      const r = job.reduceOfMap(t.ordinal);
      job.partialsDone[r] = (job.partialsDone[r] ?? 0) + 1;
      // Only a pending reduce becomes ready: after a partial reset the reduce may already be
      // running (its attempt was not touched) or complete (it stays complete).
      if (job.reduceReady(r) && tasks.state[job.maps + r] === PENDING) {
        this.emit({
          category: "task",
          type: "reduce-ready",
          jobId: job.id,
          taskId: job.taskAt(job.maps + r).taskId,
        });
        this.startArmed(job, r, c.nodeId);
      }
    } else {
      job.reducesDone++;
      if (job.reducesDone === job.reduces) {
        const base = job.maps;
        const K = job.K;
        const digest = jobOutputDigest(job.spec, (i, j) =>
          formatCrc32c(tasks.crc[base + i * K + j] ?? 0),
        );
        // Computed, not yet succeeded: the storage-manager verifies the stored tiles first
        // (job-verified). A paused job has nothing left to hold back, so it moves on too.
        job.outputDigest = digest;
        job.computedAt = this.now;
        job.state = "verifying";
        this.emit({ category: "job", type: "computed", jobId: job.id, outputDigest: digest });
        result.outputDigest = digest;
        if (job.spec.mode === "empty") {
          // Nothing was stored, so there is nothing to verify: done (verified stays null).
          job.state = "succeeded";
          job.finishedAt = this.now;
          this.emit({ category: "job", type: "succeeded", jobId: job.id, outputDigest: digest });
        }
      }
    }
    result.jobState = job.state;
    return result;
  }

  private attemptFail(c: AttemptFailCommand): Result {
    const job = this.job(c.jobId);
    if (isTerminal(job.state)) reject("job-finished", `job ${job.id} is ${job.state}`);
    const t = job.resolve(c.taskId);
    const a = this.liveAttempt(job, t, c.attempt);
    if (c.nodeId !== undefined && a.nodeId !== null && a.nodeId !== c.nodeId) {
      reject(
        "stale-attempt",
        `attempt ${c.attempt} of ${job.id}/${t.taskId} is held by node ${a.nodeId}, not ${c.nodeId}`,
      );
    }
    const { tasks } = job;
    const rest = this.removeLive(job, t.ordinal, a);
    tasks.retries[t.ordinal] = Math.min(0xffff, (tasks.retries[t.ordinal] ?? 0) + 1);
    const failures = Math.min(0xff, (tasks.failures[t.ordinal] ?? 0) + 1);
    tasks.failures[t.ordinal] = failures;
    const permanent = !c.retryable || failures >= job.maxAttempts;
    if (rest.length === 0) tasks.state[t.ordinal] = PENDING;
    this.emit({
      category: "task",
      type: "attempt-failed",
      jobId: job.id,
      taskId: t.taskId,
      attempt: c.attempt,
      ...nodeField(a.nodeId),
      reason: c.reason,
      retryable: c.retryable,
      willRetry: !permanent,
    });
    if (!permanent) {
      if (rest.length === 0) this.lowerHint(job, t.ordinal);
      return { jobId: job.id, taskId: t.taskId, attempt: c.attempt, willRetry: true, failures };
    }
    const reason = c.retryable
      ? `${failures} failed attempts (maxAttempts ${job.maxAttempts}); last: ${c.reason}`
      : `non-retryable failure: ${c.reason}`;
    tasks.state[t.ordinal] = FAILED;
    job.failedTasks++;
    this.emit({
      category: "task",
      type: "failed",
      jobId: job.id,
      taskId: t.taskId,
      reason,
      failures,
    });
    job.state = "failed";
    job.finishedAt = this.now;
    job.failure = { taskId: t.taskId, reason };
    // releaseAll only turns RUNNING tasks back to PENDING, so this task stays FAILED.
    const released = this.releaseAll(job, "job-failed");
    this.emit({
      category: "job",
      type: "failed",
      jobId: job.id,
      taskId: t.taskId,
      reason,
      released,
    });
    return {
      jobId: job.id,
      taskId: t.taskId,
      attempt: c.attempt,
      willRetry: false,
      failures,
      jobState: job.state,
    };
  }

  private attemptExpire(c: AttemptExpireCommand): Result {
    const job = this.job(c.jobId);
    if (isTerminal(job.state)) reject("job-finished", `job ${job.id} is ${job.state}`);
    const t = job.resolve(c.taskId);
    const a = this.liveAttempt(job, t, c.attempt);
    this.expire(job, t, a, c.reason);
    return { jobId: job.id, taskId: t.taskId, attempt: c.attempt };
  }

  /** Ends a live attempt that will never report (deadline, node lost); the task is re-queued. */
  private expire(job: Job, t: TaskRef, a: LiveAttempt, reason: string): void {
    const rest = this.removeLive(job, t.ordinal, a);
    const { tasks } = job;
    tasks.retries[t.ordinal] = Math.min(0xffff, (tasks.retries[t.ordinal] ?? 0) + 1);
    if (rest.length === 0) {
      tasks.state[t.ordinal] = PENDING;
      this.lowerHint(job, t.ordinal);
    }
    this.emit({
      category: "task",
      type: "attempt-expired",
      jobId: job.id,
      taskId: t.taskId,
      attempt: a.attempt,
      ...nodeField(a.nodeId),
      reason,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Storage: resets and verification (storage-manager, scheduler)

  /**
   * A completed task's output turned out corrupt: the task goes back to pending and its output is
   * forgotten. Tasks that read it are left alone (see README "Resets and verification").
   */
  private taskReset(c: TaskResetCommand): Result {
    const job = this.job(c.jobId);
    if (isTerminal(job.state)) reject("job-finished", `job ${job.id} is ${job.state}`);
    const t = job.resolve(c.taskId);
    const { tasks } = job;
    const o = t.ordinal;
    if (tasks.state[o] !== DONE) {
      // Already reset (a duplicate from another proposer) or never completed: nothing to forget.
      return {
        jobId: job.id,
        taskId: t.taskId,
        changed: false,
        state: TASK_STATES[tasks.state[o] ?? 0] ?? "pending",
        resets: tasks.resets[o] ?? 0,
        jobState: job.state,
      };
    }
    const won = tasks.winAttempt[o] ?? 0;
    if (c.attempt !== undefined && c.attempt !== won) {
      reject(
        "stale-attempt",
        `${job.id}/${t.taskId} output is from attempt ${won}, not ${c.attempt}; the reset is about an output already replaced`,
      );
    }
    tasks.state[o] = PENDING;
    tasks.winAttempt[o] = 0;
    tasks.crc[o] = 0;
    tasks.bytes[o] = 0;
    tasks.uriPrefix[o] = 0;
    job.uriOverrides.delete(o);
    if (tasks.verified[o] === 1) job.verifiedOutputs--;
    tasks.verified[o] = 0;
    const resets = Math.min(0xff, (tasks.resets[o] ?? 0) + 1);
    if (resets > (tasks.resets[o] ?? 0)) job.resets++;
    tasks.resets[o] = resets;
    this.lowerHint(job, o);
    if (t.kind === "map") {
      job.mapsDone--;
      const r = job.reduceOfMap(o);
      job.partialsDone[r] = (job.partialsDone[r] ?? 1) - 1;
    } else {
      job.reducesDone--;
      // The output is no longer complete: the digest and the computed state go with it.
      job.outputDigest = null;
      job.computedAt = -1;
      if (job.state === "verifying") job.state = "running";
    }
    this.emit({
      category: "task",
      type: "reset",
      jobId: job.id,
      taskId: t.taskId,
      attempt: won,
      kind: t.kind,
      reason: c.reason,
      resets,
      jobState: job.state,
    });
    return {
      jobId: job.id,
      taskId: t.taskId,
      changed: true,
      state: "pending",
      attempt: won,
      resets,
      jobState: job.state,
    };
  }

  /** The storage-manager checked a completed task's output durable; a bit per task. */
  private outputVerified(c: OutputVerifiedCommand): Result {
    const job = this.verifiableJob(c.jobId);
    const r = this.markVerified(job, c.taskId, c.attempt);
    // No event: bookkeeping only (visible in JobView.counts and TaskView.output).
    return { jobId: job.id, ...r, verifiedOutputs: job.verifiedOutputs };
  }

  /**
   * output-verified for many outputs of one job: each judged as if sent alone. A refused one
   * (no output, stale attempt, unknown task) changes nothing and is named in the reply; the
   * others count. Only a finished job refuses the whole command.
   */
  private outputsVerified(c: OutputsVerifiedCommand): Result {
    const job = this.verifiableJob(c.jobId);
    let changed = 0;
    const refused: { taskId: string; code: string; reason: string }[] = [];
    for (const o of c.outputs) {
      try {
        if (this.markVerified(job, o.taskId, o.attempt).changed) changed++;
      } catch (e) {
        if (!(e instanceof ManifestRejection)) throw e;
        refused.push({ taskId: o.taskId, code: e.code, reason: e.reason });
      }
    }
    return { jobId: job.id, changed, refused, verifiedOutputs: job.verifiedOutputs };
  }

  private verifiableJob(jobId: string): Job {
    const job = this.job(jobId);
    if (job.state === "cancelled" || job.state === "failed") {
      reject("job-finished", `job ${job.id} is ${job.state}`);
    }
    return job;
  }

  /** Sets the task's verified bit; refuses (before changing anything) a task without output. */
  private markVerified(
    job: Job,
    taskId: string,
    attempt: number | undefined,
  ): { taskId: string; attempt: number; changed: boolean } {
    const t = job.resolve(taskId);
    const { tasks } = job;
    const o = t.ordinal;
    if (tasks.state[o] !== DONE) {
      reject(
        "task-not-complete",
        `${job.id}/${t.taskId} has no output (task ${TASK_STATES[tasks.state[o] ?? 0]})`,
      );
    }
    const won = tasks.winAttempt[o] ?? 0;
    if (attempt !== undefined && attempt !== won) {
      reject(
        "stale-attempt",
        `${job.id}/${t.taskId} output is from attempt ${won}, not ${attempt}; the check was of an output already replaced`,
      );
    }
    const changed = tasks.verified[o] !== 1;
    if (changed) {
      tasks.verified[o] = 1;
      job.verifiedOutputs++;
    }
    return { taskId: t.taskId, attempt: won, changed };
  }

  /**
   * The storage-manager's verdict on a computed job. `verified: true` must name the committed
   * output digest; then the job succeeds. `false` fails it with the verdict's reason.
   */
  private jobVerified(c: JobVerifiedCommand): Result {
    const job = this.job(c.jobId);
    if (isTerminal(job.state)) {
      // The same verdict again (another manager instance, a retry without session): same answer.
      const same =
        job.verified === c.verified &&
        (c.digest === undefined || c.digest === job.outputDigest) &&
        (job.state === "succeeded" || job.state === "failed");
      if (same) {
        return {
          jobId: job.id,
          state: job.state,
          verified: c.verified,
          changed: false,
          outputDigest: job.outputDigest,
        };
      }
      reject("job-finished", `job ${job.id} is ${job.state}; the verdict comes too late`);
    }
    const digest = job.outputDigest;
    if (job.state !== "verifying" || digest === null) {
      reject(
        "job-not-computed",
        `job ${job.id} is ${job.state} with ${job.reducesDone} of ${job.reduces} reduces complete; nothing to verify yet`,
      );
    }
    if (c.digest !== undefined && c.digest !== digest) {
      // Most likely a verdict about an output that has since been reset and recomputed: refused,
      // the job stays verifying and the verifier checks the current output.
      reject(
        "digest-mismatch",
        `verdict digest ${c.digest} is not job ${job.id}'s output digest ${digest}`,
      );
    }
    job.verified = c.verified;
    job.finishedAt = this.now;
    if (c.verified) {
      job.state = "succeeded";
      this.emit({
        category: "job",
        type: "verified",
        jobId: job.id,
        verified: true,
        outputDigest: digest,
      });
      this.emit({ category: "job", type: "succeeded", jobId: job.id, outputDigest: digest });
    } else {
      const reason = `verification failed: ${c.reason ?? "no reason given"}`;
      job.state = "failed";
      job.failure = { taskId: null, reason };
      this.emit({
        category: "job",
        type: "verified",
        jobId: job.id,
        verified: false,
        outputDigest: digest,
        reason,
      });
      const released = this.releaseAll(job, "job-failed");
      this.emit({ category: "job", type: "failed", jobId: job.id, reason, released });
    }
    return {
      jobId: job.id,
      state: job.state,
      verified: c.verified,
      changed: true,
      outputDigest: digest,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Nodes

  private nodeUpsert(c: NodeUpsertCommand): Result {
    const existing = this.nodes.get(c.nodeId);
    const info = {
      nodeId: c.nodeId,
      labels: { ...c.labels },
      capacity: { ...c.capacity },
      executionProvider: c.executionProvider,
    };
    if (!existing) {
      if (this.nodes.size >= this.limits.maxNodes) {
        reject(
          "capacity-exceeded",
          `the manifest holds ${this.nodes.size} nodes (limit ${this.limits.maxNodes})`,
        );
      }
      this.nodes.set(c.nodeId, {
        ...info,
        state: "active",
        drained: false,
        drainReason: "",
        joinedAt: this.now,
        lastUpsertAt: c.at,
        failedAt: -1,
        failReason: "",
      });
      this.emit({ category: "node", type: "joined", ...info });
      return { nodeId: c.nodeId, state: "active", change: "joined" };
    }
    const changed = !sameNodeInfo(existing, c.labels, c.capacity, c.executionProvider);
    const recovered = existing.state === "failed";
    existing.labels = info.labels;
    existing.capacity = info.capacity;
    existing.executionProvider = c.executionProvider;
    existing.lastUpsertAt = c.at;
    if (recovered) {
      existing.state = "active";
      existing.failedAt = -1;
      existing.failReason = "";
      this.emit({ category: "node", type: "recovered", ...info });
    } else if (changed) {
      this.emit({ category: "node", type: "changed", ...info });
    }
    const change = recovered ? "recovered" : changed ? "changed" : "none";
    return { nodeId: c.nodeId, state: "active", change };
  }

  private nodeFailed(c: NodeFailedCommand): Result {
    const node = this.nodes.get(c.nodeId);
    if (!node) reject("unknown-node", `node ${c.nodeId} is not registered`);
    if (node.state === "failed") return { nodeId: c.nodeId, changed: false, expired: 0 };
    node.state = "failed";
    node.failedAt = this.now;
    node.failReason = c.reason;
    // node.failed first: the batch is published on the subject of its first event.
    const at = this.events.length;
    const expiredEvents: ManifestEventOut[] = [];
    let expired = 0;
    for (const job of this.jobs.values()) {
      if (isTerminal(job.state)) continue;
      for (const [t, list] of [...job.live]) {
        for (const a of list) {
          if (a.nodeId !== c.nodeId) continue;
          this.expire(job, job.taskAt(t), a, `node ${c.nodeId} failed: ${c.reason}`);
          expired++;
        }
      }
    }
    expiredEvents.push(...this.events.splice(at));
    this.emit({ category: "node", type: "failed", nodeId: c.nodeId, reason: c.reason, expired });
    this.events.push(...expiredEvents);
    return { nodeId: c.nodeId, changed: true, expired };
  }

  private nodeDrain(c: NodeDrainCommand): Result {
    const node = this.nodes.get(c.nodeId);
    if (!node) reject("unknown-node", `node ${c.nodeId} is not registered`);
    if (c.reason !== undefined && !c.drained) {
      reject("schema-error", "reason: only a drain (drained: true) takes a reason");
    }
    const reason = c.reason ?? "";
    if (node.drained === c.drained && node.drainReason === reason) {
      return { nodeId: c.nodeId, drained: c.drained, changed: false };
    }
    node.drained = c.drained;
    node.drainReason = reason;
    this.emit({
      category: "node",
      type: "drain",
      nodeId: c.nodeId,
      drained: c.drained,
      ...(c.reason !== undefined ? { reason: c.reason } : {}),
    });
    return { nodeId: c.nodeId, drained: c.drained, changed: true };
  }

  // ---------------------------------------------------------------------------------------------
  // Feature level

  /** Levels only go up: a lower or equal level (a late or repeated raise) changes nothing. */
  private raiseFeatureLevel(c: ClusterLevelCommand): Result {
    if (c.level <= this.clusterLevel) return { level: this.clusterLevel, changed: false };
    this.clusterLevel = c.level;
    this.emit({ category: "control", type: "feature-level", level: c.level });
    return { level: c.level, changed: true };
  }

  // ---------------------------------------------------------------------------------------------
  // Queries (read-only; safe to call between applies)

  getJob(jobId: string): JobView | undefined {
    const job = this.jobs.get(jobId);
    return job ? this.viewOf(job) : undefined;
  }

  /** Same as getJob (the name the API read model uses). */
  jobView(jobId: string): JobView | undefined {
    return this.getJob(jobId);
  }

  /**
   * Every job, in submission order; with `finishedLatest`, every unfinished job and only the
   * `finishedLatest` most recently finished ones (a live view polls this: a long-lived manifest's
   * whole list is megabytes, nearly all of it finished jobs nobody looks at).
   */
  listJobs(filter: JobListFilter = {}): JobView[] {
    const all = [...this.jobs.values()];
    const { finishedLatest } = filter;
    if (finishedLatest === undefined) return all.map((j) => this.viewOf(j));
    const latest = new Set(
      all
        .filter((j) => isTerminal(j.state))
        .sort((a, b) => b.finishedAt - a.finishedAt || b.submitIndex - a.submitIndex)
        .slice(0, finishedLatest),
    );
    return all.filter((j) => !isTerminal(j.state) || latest.has(j)).map((j) => this.viewOf(j));
  }

  private viewOf(job: Job): JobView {
    const done = job.mapsDone + job.reducesDone;
    const running = job.live.size;
    return {
      jobId: job.id,
      spec: { ...job.spec },
      state: job.state,
      maxAttempts: job.maxAttempts,
      submitIndex: job.submitIndex,
      submittedAt: job.submittedAt,
      startedAt: job.startedAt >= 0 ? job.startedAt : null,
      finishedAt: job.finishedAt >= 0 ? job.finishedAt : null,
      outputDigest: job.outputDigest,
      computedAt: job.computedAt >= 0 ? job.computedAt : null,
      verified: job.verified,
      failure: job.failure ? { ...job.failure } : null,
      counts: {
        tasks: job.total,
        maps: job.maps,
        reduces: job.reduces,
        mapsDone: job.mapsDone,
        reducesDone: job.reducesDone,
        pending: job.total - done - running - job.failedTasks,
        running,
        done,
        failed: job.failedTasks,
        liveAttempts: job.liveAttempts,
        verifiedOutputs: job.verifiedOutputs,
        resets: job.resets,
        attempts: job.attempts,
        armed: job.armed.size,
      },
    };
  }

  getTask(jobId: string, taskId: string): TaskView | undefined {
    const job = this.jobs.get(jobId);
    if (!job) return undefined;
    let t: TaskRef;
    try {
      t = job.resolve(taskId);
    } catch {
      return undefined;
    }
    return this.taskView(job, t);
  }

  /**
   * A page of a job's touched tasks (started at least once, or not pending) in ordinal order,
   * from ordinal `from`, at most `limit` of them, and the ordinal to continue from (null at the
   * end). A follower of the event stream rebuilds its view with a few of these instead of one
   * read per task (untouched tasks are implicit: pending, never started).
   */
  listTasks(
    jobId: string,
    from: number,
    limit: number,
  ): { tasks: TaskView[]; next: number | null } | undefined {
    const job = this.jobs.get(jobId);
    if (!job) return undefined;
    const { state, lastAttempt } = job.tasks;
    const tasks: TaskView[] = [];
    let o = Math.max(0, from);
    for (; o < job.total && tasks.length < limit; o++) {
      if ((state[o] ?? PENDING) === PENDING && (lastAttempt[o] ?? 0) === 0) continue;
      tasks.push(this.taskView(job, job.taskAt(o)));
    }
    return { tasks, next: o < job.total ? o : null };
  }

  private taskView(job: Job, t: TaskRef): TaskView {
    const jobId = job.id;
    const { tasks } = job;
    const state = TASK_STATES[tasks.state[t.ordinal] ?? 0] ?? "pending";
    const uri = job.uriOf(t);
    return {
      jobId,
      taskId: t.taskId,
      kind: t.kind,
      i: t.i,
      j: t.j,
      ...(t.kind === "map" ? { k: t.k } : {}),
      state,
      lastAttempt: tasks.lastAttempt[t.ordinal] ?? 0,
      retries: tasks.retries[t.ordinal] ?? 0,
      failures: tasks.failures[t.ordinal] ?? 0,
      resets: tasks.resets[t.ordinal] ?? 0,
      runnable: this.isRunnable(job, t.ordinal),
      live: (job.live.get(t.ordinal) ?? []).map((a) => this.liveView(job, t, a)),
      output:
        uri === null
          ? null
          : {
              uri,
              checksum: formatCrc32c(tasks.crc[t.ordinal] ?? 0),
              bytes: tasks.bytes[t.ordinal] ?? 0,
              attempt: tasks.winAttempt[t.ordinal] ?? 0,
              verified: tasks.verified[t.ordinal] === 1,
            },
    };
  }

  private liveView(job: Job, t: TaskRef, a: LiveAttempt): LiveAttemptView {
    return {
      jobId: job.id,
      taskId: t.taskId,
      kind: t.kind,
      attempt: a.attempt,
      nodeId: a.nodeId,
      startedAt: a.startedAt,
      deadlineAt: a.deadlineAt >= 0 ? a.deadlineAt : null,
      speculative: a.speculative,
      claimedAt: a.claimedAt >= 0 ? a.claimedAt : null,
      batch: a.batch,
    };
  }

  private jobAcceptsStarts(job: Job): boolean {
    return !this.emergencyStop && (job.state === "queued" || job.state === "running");
  }

  private isRunnable(job: Job, t: number): boolean {
    if (!this.jobAcceptsStarts(job) || job.tasks.state[t] !== PENDING) return false;
    return t < job.maps ? job.mapNeeded(t) : job.reduceReady(t - job.maps);
  }

  /**
   * Tasks an attempt-start (with `nextAttempt`) would accept now, ready reduces first (they
   * finish output tiles and free partials), then maps in plan order. Lazy: the scheduler takes
   * what it can place. Empty while the job is paused/finished or the emergency stop is engaged.
   */
  *runnableTasks(jobId: string, limit = Number.POSITIVE_INFINITY): Generator<RunnableTask> {
    const job = this.jobs.get(jobId);
    if (!job || limit <= 0 || !this.jobAcceptsStarts(job)) return;
    const { state } = job.tasks;
    let yielded = 0;
    // Advance the hints over the finished prefix (caches only: not part of the state).
    while (job.reduceHint < job.reduces && state[job.maps + job.reduceHint] !== PENDING) {
      job.reduceHint++;
    }
    while (job.mapHint < job.maps && state[job.mapHint] !== PENDING) job.mapHint++;
    if (job.mapsDone > 0) {
      for (let r = job.reduceHint; r < job.reduces; r++) {
        if (state[job.maps + r] !== PENDING || !job.reduceReady(r)) continue;
        yield this.runnable(job, job.maps + r);
        if (++yielded >= limit) return;
      }
    }
    for (let t = job.mapHint; t < job.maps; t++) {
      if (state[t] !== PENDING || !job.mapNeeded(t)) continue;
      yield this.runnable(job, t);
      if (++yielded >= limit) return;
    }
  }

  private runnable(job: Job, t: number): RunnableTask {
    const ref = job.taskAt(t);
    return {
      jobId: job.id,
      taskId: ref.taskId,
      kind: ref.kind,
      i: ref.i,
      j: ref.j,
      ...(ref.kind === "map" ? { k: ref.k } : {}),
      nextAttempt: (job.tasks.lastAttempt[t] ?? 0) + 1,
      retries: job.tasks.retries[t] ?? 0,
    };
  }

  /** Live attempts of one job (or all jobs), e.g. for the scheduler's deadline sweep. */
  *liveAttempts(jobId?: string): Generator<LiveAttemptView> {
    const jobs = jobId === undefined ? this.jobs.values() : [this.jobs.get(jobId)];
    for (const job of jobs) {
      if (!job) continue;
      for (const [t, list] of job.live) {
        const ref = job.taskAt(t);
        for (const a of list) yield this.liveView(job, ref, a);
      }
    }
  }

  getNode(nodeId: string): NodeView | undefined {
    const node = this.nodes.get(nodeId);
    if (!node) return undefined;
    let live = 0;
    for (const a of this.liveAttempts()) if (a.nodeId === nodeId) live++;
    return this.nodeView(node, live);
  }

  /** Every node, in registration order. */
  listNodes(): NodeView[] {
    const live = new Map<string, number>();
    for (const a of this.liveAttempts()) {
      if (a.nodeId !== null) live.set(a.nodeId, (live.get(a.nodeId) ?? 0) + 1);
    }
    return [...this.nodes.values()].map((n) => this.nodeView(n, live.get(n.nodeId) ?? 0));
  }

  private nodeView(n: NodeRecord, liveAttempts: number): NodeView {
    return {
      nodeId: n.nodeId,
      labels: { ...n.labels },
      capacity: { ...n.capacity },
      executionProvider: n.executionProvider,
      state: n.state,
      drained: n.drained,
      drainReason: n.drained && n.drainReason !== "" ? n.drainReason : null,
      joinedAt: n.joinedAt,
      lastUpsertAt: n.lastUpsertAt,
      failedAt: n.failedAt >= 0 ? n.failedAt : null,
      failReason: n.state === "failed" ? n.failReason : null,
      liveAttempts,
    };
  }

  stats(): ManifestStats {
    let live = 0;
    let taskBytes = 0;
    for (const j of this.jobs.values()) {
      live += j.liveAttempts;
      taskBytes += j.tasks.byteLength;
    }
    return {
      appliedIndex: this.applied,
      jobs: this.jobs.size,
      tasks: this.totalTasks,
      liveAttempts: live,
      nodes: this.nodes.size,
      sessions: this.sessions.size,
      emergencyStop: this.emergencyStop,
      taskBytes,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshot / restore / digest

  /** The snapshot format for the cluster's feature level (the same on every replica). */
  private get snapshotVersion(): number {
    return this.clusterLevel >= 2 ? SNAPSHOT_VERSION : LEVEL_1_SNAPSHOT_VERSION;
  }

  /** The canonical state image: identical bytes on every replica at the same applied index. */
  private writeBody(version: number): ChunkWriter {
    const w = new ChunkWriter();
    w.f64(this.applied);
    w.f64(this.appliedTerm);
    w.f64(this.now);
    w.bool(this.emergencyStop);
    w.u32(this.nodes.size);
    for (const n of this.nodes.values()) writeNode(w, n, version >= 7);
    w.u32(this.jobs.size);
    for (const j of this.jobs.values()) j.write(w);
    this.sessions.write(w);
    w.u32(this.deletedJobs.size);
    for (const id of this.deletedJobs) w.str(id);
    if (version >= 7) w.u16(this.clusterLevel);
    return w;
  }

  /**
   * Header (20 bytes, little-endian): magic "TSFM", u16 version, u16 flags (0), u32 CRC32C of the
   * body, f64 body length; then the body (see README.md).
   */
  snapshot(): Uint8Array {
    const version = this.snapshotVersion;
    const w = this.writeBody(version);
    const out = w.concat(HEADER_BYTES);
    const body = out.subarray(HEADER_BYTES);
    const view = new DataView(out.buffer, out.byteOffset, HEADER_BYTES);
    view.setUint32(0, SNAPSHOT_MAGIC, true);
    view.setUint16(4, version, true);
    view.setUint16(6, 0, true);
    view.setUint32(8, crc32cOf(body), true);
    view.setFloat64(12, body.byteLength, true);
    return out;
  }

  restore(data: Uint8Array): void {
    if (data.byteLength < HEADER_BYTES) {
      throw new FsmSnapshotError(`${data.byteLength} bytes is shorter than the header`);
    }
    const view = new DataView(data.buffer, data.byteOffset, HEADER_BYTES);
    if (view.getUint32(0, true) !== SNAPSHOT_MAGIC) throw new FsmSnapshotError("bad magic", 0);
    const version = view.getUint16(4, true);
    if (version < OLDEST_SNAPSHOT_VERSION || version > SNAPSHOT_VERSION) {
      throw new FsmSnapshotError(
        `unsupported version ${version} (supported: ${OLDEST_SNAPSHOT_VERSION}..${SNAPSHOT_VERSION})`,
        4,
      );
    }
    const length = view.getFloat64(12, true);
    if (length !== data.byteLength - HEADER_BYTES) {
      throw new FsmSnapshotError(
        `body is ${data.byteLength - HEADER_BYTES} bytes, header says ${length}`,
        12,
      );
    }
    const body = data.subarray(HEADER_BYTES);
    const crc = crc32cOf(body);
    if (crc !== view.getUint32(8, true)) {
      throw new FsmSnapshotError(
        `CRC32C mismatch (stored ${formatCrc32c(view.getUint32(8, true))}, computed ${formatCrc32c(crc)})`,
        8,
      );
    }
    const r = new Reader(body);
    const applied = r.f64("appliedIndex");
    const appliedTerm = r.f64("appliedTerm");
    const now = r.f64("now");
    const emergencyStop = r.bool("emergencyStop");
    const nodes = new Map<string, NodeRecord>();
    const nodeCount = r.u32("node count");
    for (let i = 0; i < nodeCount; i++) {
      const n = readNode(r, version >= 7);
      nodes.set(n.nodeId, n);
    }
    const jobs = new Map<string, Job>();
    let totalTasks = 0;
    const jobCount = r.u32("job count");
    for (let i = 0; i < jobCount; i++) {
      const job = Job.read(r, jobFormatOf(version));
      jobs.set(job.id, job);
      totalTasks += job.total;
    }
    const sessions = new SessionTable(this.sessionOptions);
    sessions.read(r);
    const deletedJobs = new Set<string>();
    const deletedCount = version >= 4 ? r.u32("deleted job count") : 0;
    for (let i = 0; i < deletedCount; i++) deletedJobs.add(r.str("deleted job id"));
    const clusterLevel = version >= 7 ? r.u16("feature level") : BASE_FEATURE_LEVEL;
    if (r.remaining !== 0) throw new FsmSnapshotError(`${r.remaining} trailing bytes`, r.pos);
    if (clusterLevel > this.supportedLevel) {
      throw new FeatureLevelError(this.supportedLevel, clusterLevel, applied);
    }
    // Swap only once everything decoded: a bad snapshot leaves the current state untouched.
    this.applied = applied;
    this.appliedTerm = appliedTerm;
    this.now = now;
    this.emergencyStop = emergencyStop;
    this.nodes = nodes;
    this.jobs = jobs;
    this.deletedJobs = deletedJobs;
    this.sessions = sessions;
    this.totalTasks = totalTasks;
    this.clusterLevel = clusterLevel;
  }

  /** Hex SHA-256 of the canonical state image (the snapshot body). */
  digest(): string {
    const hash = createHash("sha256");
    for (const part of this.writeBody(this.snapshotVersion).parts()) hash.update(part);
    return hash.digest("hex");
  }
}
