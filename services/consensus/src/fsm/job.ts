import {
  type JobPlan,
  type MatmulJobSpec,
  outputKey,
  parseTaskId,
  partialKey,
  planJob,
} from "@tessera/matrix";
import type { ChunkWriter, Reader } from "./binary.js";
import { FsmSnapshotError, ManifestRejection } from "./errors.js";

/*
 * One job of the manifest, stored compactly. A job's tasks are never materialised as objects:
 * task ordinal t in 0..maps-1 is map plan.mapTask(t) (row-major (i,j,k), so one reduce's maps are
 * contiguous), t in maps..maps+reduces-1 is reduce plan.reduceTask(t - maps). Per-task state
 * lives in typed arrays (≈23 bytes per task), so a 1,000,000-task job is ≈23 MB and snapshots
 * as a handful of memcpy's. Only live attempts (bounded by cluster capacity, not job size) are
 * objects. Output URIs are not stored: they are `prefix + deterministic key`, with the prefix
 * (storage location, e.g. `s3://bucket/`) interned per job.
 */

export const JOB_STATES = [
  "queued",
  "running",
  "paused",
  "cancelled",
  "failed",
  "succeeded",
  // Appended (not inserted): the snapshot stores the index into this list.
  "verifying",
] as const;
export type JobState = (typeof JOB_STATES)[number];

export const TASK_STATES = ["pending", "running", "done", "failed"] as const;
export type TaskStateName = (typeof TASK_STATES)[number];

/** Task state codes stored in `TaskArrays.state`. */
export const PENDING = 0;
export const RUNNING = 1;
export const DONE = 2;
export const FAILED = 3;

/** A job's mode in the snapshot: its index here ("empty" appended, so older records read). */
const MODE_CODES: readonly MatmulJobSpec["mode"][] = ["exact", "float", "empty"];

/** Snapshot format of a job record written by this code (see README "Snapshot format"). */
export const JOB_FORMAT_VERSION = 5;

/** uriPrefix value meaning "the full URI is in uriOverrides". */
export const URI_OVERRIDE = 255;
const MAX_PREFIXES = 255;

export function isTerminal(state: JobState): boolean {
  return state === "cancelled" || state === "failed" || state === "succeeded";
}

/** A started, not yet ended attempt. At most two per task (one may be speculative). */
export interface LiveAttempt {
  readonly attempt: number;
  /** Node it is placed on / claimed by; null until bound. */
  nodeId: string | null;
  readonly startedAt: number;
  /** -1 when the scheduler gave none. */
  readonly deadlineAt: number;
  readonly speculative: boolean;
  /** -1 until an attempt-claim. */
  claimedAt: number;
  /** The attempt-start-batch that started it (its batch id), null for a lone attempt-start. */
  readonly batch: string | null;
}

/**
 * An attempt-start `whenReady` for a reduce whose partials were not all complete: it starts in the
 * entry that completes the last of them (or is dropped then, if it may not start).
 */
export interface ArmedAttempt {
  readonly attempt: number;
  readonly nodeId: string | null;
  /** Entry time of the arming; the deadline keeps its distance from it once started. */
  readonly armedAt: number;
  /** -1 when the scheduler gave none. */
  readonly deadlineAt: number;
}

/** Dense per-task columns, indexed by task ordinal. */
export class TaskArrays {
  /** PENDING | RUNNING | DONE | FAILED. */
  readonly state: Uint8Array;
  /** Highest attempt number started (0 = never); the next start must be this + 1. */
  readonly lastAttempt: Uint32Array;
  /** Attempt whose completion won (0 = not complete). */
  readonly winAttempt: Uint32Array;
  /** Attempts that ended without success (failed or expired), saturating at 65535. */
  readonly retries: Uint16Array;
  /** attempt-fail reports, saturating at 255; compared with the job's maxAttempts. */
  readonly failures: Uint8Array;
  /** CRC32C of the output object as uint32. */
  readonly crc: Uint32Array;
  readonly bytes: Uint32Array;
  /** Index into Job.uriPrefixes, or URI_OVERRIDE. */
  readonly uriPrefix: Uint8Array;
  /** task-resets applied to the task, saturating at 255 (snapshot v2). */
  readonly resets: Uint8Array;
  /** 1 when the storage-manager checked the current output durable (output-verified; v2). */
  readonly verified: Uint8Array;

  constructor(readonly count: number) {
    this.state = new Uint8Array(count);
    this.lastAttempt = new Uint32Array(count);
    this.winAttempt = new Uint32Array(count);
    this.retries = new Uint16Array(count);
    this.failures = new Uint8Array(count);
    this.crc = new Uint32Array(count);
    this.bytes = new Uint32Array(count);
    this.uriPrefix = new Uint8Array(count);
    this.resets = new Uint8Array(count);
    this.verified = new Uint8Array(count);
  }

  /** The columns a snapshot of `version` holds, in order (v1 lacks resets and verified). */
  columns(version = JOB_FORMAT_VERSION): ArrayBufferView[] {
    const v1 = [
      this.state,
      this.lastAttempt,
      this.winAttempt,
      this.retries,
      this.failures,
      this.crc,
      this.bytes,
      this.uriPrefix,
    ];
    return version >= 2 ? [...v1, this.resets, this.verified] : v1;
  }

  /** Resident bytes of the columns. */
  get byteLength(): number {
    return this.columns().reduce((n, c) => n + c.byteLength, 0);
  }
}

export interface TaskRef {
  readonly ordinal: number;
  readonly kind: "map" | "reduce";
  readonly i: number;
  readonly j: number;
  /** Map only. */
  readonly k: number;
  readonly taskId: string;
}

export class Job {
  readonly plan: JobPlan;
  /** Tiles per side. */
  readonly K: number;
  /** Partials per reduce (= maps per output tile): K / kPerMap. */
  readonly G: number;
  readonly maps: number;
  readonly reduces: number;
  readonly total: number;
  readonly tasks: TaskArrays;
  /** Task ordinal → live attempts (1 or 2). Insertion order is apply order (canonical). */
  readonly live = new Map<number, LiveAttempt[]>();
  /** Reduce task ordinal → its armed attempt. Insertion order is apply order (canonical). */
  readonly armed = new Map<number, ArmedAttempt>();
  /** Interned storage locations: uri = prefix + key. */
  readonly uriPrefixes: string[] = [];
  /** Outputs whose URI does not end with the task's key (kept whole; expected to be rare). */
  readonly uriOverrides = new Map<number, string>();

  state: JobState = "queued";
  startedAt = -1;
  finishedAt = -1;
  /** Set when every reduce completed (the digest of the committed output tiles). */
  outputDigest: string | null = null;
  /** When every reduce completed (-1: not computed, or a reduce was reset since). */
  computedAt = -1;
  /** The storage-manager's accepted verdict; null until job-verified. */
  verified: boolean | null = null;
  /** taskId null: the job failed verification, not a task. */
  failure: { taskId: string | null; reason: string } | null = null;

  // Derived from the columns (recomputed on restore, never serialised).
  /** Completed maps per reduce ordinal. */
  readonly partialsDone: Uint32Array;
  mapsDone = 0;
  reducesDone = 0;
  failedTasks = 0;
  liveAttempts = 0;
  /** Done tasks whose output is marked verified. */
  verifiedOutputs = 0;
  /** Sum of the per-task reset counters. */
  resets = 0;
  /** Attempts started, speculative ones and retries included: the sum of lastAttempt. */
  attempts = 0;

  // Scan hints for runnableTasks (non-canonical caches: lowest ordinal that may be pending).
  mapHint = 0;
  reduceHint = 0;

  /** The spec in canonical form (kPerMap only when it is not 1). */
  readonly spec: MatmulJobSpec;

  constructor(
    readonly id: string,
    spec: MatmulJobSpec,
    readonly maxAttempts: number,
    readonly submitIndex: number,
    readonly submittedAt: number,
    tasks?: TaskArrays,
  ) {
    this.plan = planJob(spec);
    this.spec = this.plan.spec;
    this.K = this.plan.tilesPerSide;
    this.G = this.plan.partialsPerReduce;
    this.maps = this.plan.mapCount;
    this.reduces = this.plan.reduceCount;
    this.total = this.maps + this.reduces;
    this.tasks = tasks ?? new TaskArrays(this.total);
    this.partialsDone = new Uint32Array(this.reduces);
  }

  /** Resolves a task id of this job, or throws a `unknown-task` rejection. */
  resolve(taskId: string): TaskRef {
    let c: ReturnType<typeof parseTaskId>;
    try {
      c = parseTaskId(taskId, this.K, this.G);
    } catch (e) {
      throw new ManifestRejection(
        "unknown-task",
        `task ${JSON.stringify(taskId)} is not a task of job ${this.id} (K = ${this.K}): ${(e as Error).message}`,
      );
    }
    if (c.kind === "map") {
      return { ordinal: this.plan.mapIndex(c.i, c.j, c.k), ...c, taskId };
    }
    return { ordinal: this.maps + this.plan.reduceIndex(c.i, c.j), ...c, k: -1, taskId };
  }

  /** The task at an ordinal. */
  taskAt(ordinal: number): TaskRef {
    if (ordinal < this.maps) {
      const m = this.plan.mapTask(ordinal);
      return { ordinal, kind: "map", i: m.i, j: m.j, k: m.k, taskId: m.taskId };
    }
    const r = this.plan.reduceTask(ordinal - this.maps);
    return { ordinal, kind: "reduce", i: r.i, j: r.j, k: -1, taskId: r.taskId };
  }

  /** Reduce ordinal (0-based among reduces) fed by map ordinal m. */
  reduceOfMap(mapOrdinal: number): number {
    return Math.floor(mapOrdinal / this.G);
  }

  /** A reduce may start once all G of its partials are complete. */
  reduceReady(reduceIndex: number): boolean {
    return (this.partialsDone[reduceIndex] ?? 0) === this.G;
  }

  /**
   * A map is needed while its reduce is not complete. A partial reset after its reduce completed
   * stays pending without being runnable (recomputing it would be wasted work) until that
   * reduce itself is reset.
   */
  mapNeeded(mapOrdinal: number): boolean {
    return this.tasks.state[this.maps + this.reduceOfMap(mapOrdinal)] !== DONE;
  }

  /** Deterministic storage key of a task's output. */
  keyOf(t: TaskRef): string {
    return t.kind === "map" ? partialKey(this.id, t.i, t.j, t.k) : outputKey(this.id, t.i, t.j);
  }

  /** Stores where task t's output lives; compact when `uri` ends with the task's key. */
  setUri(t: TaskRef, uri: string): void {
    const key = this.keyOf(t);
    if (uri.endsWith(key)) {
      const prefix = uri.slice(0, uri.length - key.length);
      let idx = this.uriPrefixes.indexOf(prefix);
      if (idx < 0 && this.uriPrefixes.length < MAX_PREFIXES) {
        this.uriPrefixes.push(prefix);
        idx = this.uriPrefixes.length - 1;
      }
      if (idx >= 0) {
        this.tasks.uriPrefix[t.ordinal] = idx;
        this.uriOverrides.delete(t.ordinal);
        return;
      }
    }
    this.tasks.uriPrefix[t.ordinal] = URI_OVERRIDE;
    this.uriOverrides.set(t.ordinal, uri);
  }

  uriOf(t: TaskRef): string | null {
    if (this.tasks.state[t.ordinal] !== DONE) return null;
    const idx = this.tasks.uriPrefix[t.ordinal] ?? URI_OVERRIDE;
    if (idx === URI_OVERRIDE) return this.uriOverrides.get(t.ordinal) ?? null;
    return (this.uriPrefixes[idx] ?? "") + this.keyOf(t);
  }

  /** Recomputes the derived counters from the columns and the live map (after restore). */
  recount(): void {
    const { state } = this.tasks;
    this.partialsDone.fill(0);
    this.mapsDone = 0;
    this.reducesDone = 0;
    this.failedTasks = 0;
    this.verifiedOutputs = 0;
    this.resets = 0;
    this.attempts = 0;
    const { resets, verified, lastAttempt } = this.tasks;
    for (let t = 0; t < this.total; t++) {
      const s = state[t];
      this.resets += resets[t] ?? 0;
      // Attempts of a task are numbered 1, 2, … and each start takes the next number.
      this.attempts += lastAttempt[t] ?? 0;
      if (s === DONE) {
        if (verified[t] === 1) this.verifiedOutputs++;
        if (t < this.maps) {
          this.mapsDone++;
          const r = this.reduceOfMap(t);
          this.partialsDone[r] = (this.partialsDone[r] ?? 0) + 1;
        } else {
          this.reducesDone++;
        }
      } else if (s === FAILED) {
        this.failedTasks++;
      }
    }
    this.liveAttempts = 0;
    for (const list of this.live.values()) this.liveAttempts += list.length;
    this.mapHint = 0;
    this.reduceHint = 0;
  }

  write(w: ChunkWriter): void {
    w.str(this.id);
    w.u32(this.spec.n);
    w.u32(this.spec.tile);
    w.u8(MODE_CODES.indexOf(this.spec.mode));
    w.u32(this.spec.seed);
    w.u32(this.plan.kPerMap);
    w.u8(JOB_STATES.indexOf(this.state));
    w.u8(this.maxAttempts);
    w.f64(this.submitIndex);
    w.f64(this.submittedAt);
    w.f64(this.startedAt);
    w.f64(this.finishedAt);
    w.str(this.outputDigest ?? "");
    w.bool(this.failure !== null);
    if (this.failure) {
      w.str(this.failure.taskId ?? "");
      w.str(this.failure.reason);
    }
    w.f64(this.computedAt);
    w.u8(this.verified === null ? 0 : this.verified ? 2 : 1);
    w.u8(this.uriPrefixes.length);
    for (const p of this.uriPrefixes) w.str(p);
    w.u32(this.uriOverrides.size);
    for (const [t, uri] of this.uriOverrides) {
      w.u32(t);
      w.str(uri);
    }
    w.u32(this.total);
    for (const column of this.tasks.columns(JOB_FORMAT_VERSION)) w.raw(column);
    w.u32(this.live.size);
    for (const [t, list] of this.live) {
      w.u32(t);
      w.u8(list.length);
      for (const a of list) {
        w.u32(a.attempt);
        w.str(a.nodeId ?? "");
        w.f64(a.startedAt);
        w.f64(a.deadlineAt);
        w.bool(a.speculative);
        w.f64(a.claimedAt);
        w.str(a.batch ?? "");
      }
    }
    w.u32(this.armed.size);
    for (const [t, a] of this.armed) {
      w.u32(t);
      w.u32(a.attempt);
      w.str(a.nodeId ?? "");
      w.f64(a.armedAt);
      w.f64(a.deadlineAt);
    }
  }

  /**
   * Reads a job record of format `version` (1..5; v3 added kPerMap, v4 the live attempts'
   * batch, v5 the armed attempts).
   */
  static read(r: Reader, version: number): Job {
    const id = r.str("job id");
    const n = r.u32("spec.n");
    const tile = r.u32("spec.tile");
    const modeCode = r.u8("spec.mode");
    const seed = r.u32("spec.seed");
    const kPerMap = version >= 3 ? r.u32("spec.kPerMap") : 1;
    const mode = MODE_CODES[modeCode];
    if (!mode) throw new FsmSnapshotError(`job ${id}: bad mode ${modeCode}`, r.pos);
    const spec: MatmulJobSpec = {
      n,
      tile,
      mode,
      seed,
      ...(kPerMap === 1 ? {} : { kPerMap }),
    };
    const state = JOB_STATES[r.u8("job state")];
    if (!state) throw new FsmSnapshotError(`job ${id}: bad state`, r.pos);
    const maxAttempts = r.u8("maxAttempts");
    const submitIndex = r.f64("submitIndex");
    const submittedAt = r.f64("submittedAt");
    const startedAt = r.f64("startedAt");
    const finishedAt = r.f64("finishedAt");
    const digest = r.str("outputDigest");
    let failure: { taskId: string | null; reason: string } | null = null;
    if (r.bool("failure flag")) {
      const taskId = r.str("failure taskId");
      failure = { taskId: taskId === "" ? null : taskId, reason: r.str("failure reason") };
    }
    // v1 records have no verification fields: a v1 job was never verified (null).
    const computedAt = version >= 2 ? r.f64("computedAt") : -1;
    const verifiedCode = version >= 2 ? r.u8("verified") : 0;
    if (verifiedCode > 2)
      throw new FsmSnapshotError(`job ${id}: bad verified ${verifiedCode}`, r.pos);
    const prefixes: string[] = [];
    const prefixCount = r.u8("prefix count");
    for (let i = 0; i < prefixCount; i++) prefixes.push(r.str("uri prefix"));
    const overrides = new Map<number, string>();
    const overrideCount = r.u32("override count");
    for (let i = 0; i < overrideCount; i++) overrides.set(r.u32("override task"), r.str("uri"));

    let job: Job;
    try {
      job = new Job(id, spec, maxAttempts, submitIndex, submittedAt);
    } catch (e) {
      throw new FsmSnapshotError(`job ${id}: bad spec (${(e as Error).message})`, r.pos);
    }
    const total = r.u32("task count");
    if (total !== job.total) {
      throw new FsmSnapshotError(`job ${id}: ${total} tasks, spec implies ${job.total}`, r.pos);
    }
    for (const column of job.tasks.columns(version)) r.fill(column, `job ${id} task column`);
    job.state = state;
    job.startedAt = startedAt;
    job.finishedAt = finishedAt;
    job.outputDigest = digest === "" ? null : digest;
    job.failure = failure;
    // A v1 job that succeeded was computed when it finished (v1 had no verification step).
    job.computedAt = version < 2 && state === "succeeded" ? finishedAt : computedAt;
    job.verified = verifiedCode === 0 ? null : verifiedCode === 2;
    job.uriPrefixes.push(...prefixes);
    for (const [t, uri] of overrides) job.uriOverrides.set(t, uri);
    const liveCount = r.u32("live count");
    for (let i = 0; i < liveCount; i++) {
      const t = r.u32("live task");
      const count = r.u8("live attempts");
      if (t >= job.total || count < 1 || count > 2) {
        throw new FsmSnapshotError(`job ${id}: bad live entry for task ${t}`, r.pos);
      }
      const list: LiveAttempt[] = [];
      for (let k = 0; k < count; k++) {
        const attempt = r.u32("attempt");
        const node = r.str("attempt node");
        const startedAt = r.f64("startedAt");
        const deadlineAt = r.f64("deadlineAt");
        const speculative = r.bool("speculative");
        const claimedAt = r.f64("claimedAt");
        const batch = version >= 4 ? r.str("attempt batch") : "";
        list.push({
          attempt,
          nodeId: node === "" ? null : node,
          startedAt,
          deadlineAt,
          speculative,
          claimedAt,
          batch: batch === "" ? null : batch,
        });
      }
      job.live.set(t, list);
    }
    const armedCount = version >= 5 ? r.u32("armed count") : 0;
    for (let i = 0; i < armedCount; i++) {
      const t = r.u32("armed task");
      if (t < job.maps || t >= job.total) {
        throw new FsmSnapshotError(`job ${id}: armed entry for task ${t}, not a reduce`, r.pos);
      }
      const attempt = r.u32("armed attempt");
      const node = r.str("armed node");
      const armedAt = r.f64("armedAt");
      const deadlineAt = r.f64("armed deadlineAt");
      job.armed.set(t, { attempt, nodeId: node === "" ? null : node, armedAt, deadlineAt });
    }
    job.recount();
    return job;
  }
}
