// The storage-manager's pure core: committed manifest events in, actions and proposals out. No
// I/O, no clocks (callers pass `now`), so every decision is unit-tested without NATS or storage.
//
// State is rebuilt from TESSERA_EVENTS on every start (the manifest is the truth): while the
// manager replays the stream it only `apply`s; once caught up it asks `nextActions(now)`, which
// derives the work still owed (unchecked outputs of unfinished jobs, verification of jobs whose
// reduces are all complete, partial clean-up of finished jobs) from state, never from memory of
// what an earlier process did. Every action is idempotent, so repeating one after a restart is safe.
import {
  type MatmulJobSpec,
  outputKey,
  parseTaskId,
  partialKey,
  partialsPerReduce,
  tilesPerSide,
} from "@tessera/matrix";

export type OutputStatus = "unchecked" | "checking" | "ok" | "bad";
export type TrackedJobState = "active" | "succeeded" | "failed" | "cancelled";
export type VerifyStatus = "idle" | "running" | "proposed" | "done";
export type PartialsStatus = "present" | "cleaning" | "cleaned" | "kept";

export interface ReportedOutput {
  readonly uri: string;
  readonly checksum: string;
  readonly bytes: number;
}

export interface OutputRecord {
  readonly jobId: string;
  readonly taskId: string;
  readonly kind: "map" | "reduce";
  readonly attempt: number;
  /** Deterministic storage key of the task's output. */
  readonly key: string;
  readonly output: ReportedOutput;
  status: OutputStatus;
  reason?: string;
}

export interface TrackedJob {
  readonly jobId: string;
  readonly spec: MatmulJobSpec;
  readonly maps: number;
  readonly reduces: number;
  state: TrackedJobState;
  /** taskId → the winning (latest committed) output. */
  readonly outputs: Map<string, OutputRecord>;
  verify: VerifyStatus;
  /** task-resets proposed by this manager for this job. */
  resets: number;
  partials: PartialsStatus;
  /** Stamped time of the terminal event (ms). */
  finishedAt?: number;
  digest?: string;
  /** Last verdict this manager reached (for inspection). */
  verdict?: { verified: boolean; digest?: string; reason?: string };
}

/** A manifest command the manager proposes (shape of the FSM command, minus the envelope). */
export type Proposal =
  | { readonly type: "output-verified"; readonly jobId: string; readonly taskId: string }
  | {
      readonly type: "outputs-verified";
      readonly jobId: string;
      readonly outputs: readonly { readonly taskId: string; readonly attempt: number }[];
    }
  | {
      readonly type: "task-reset";
      readonly jobId: string;
      readonly taskId: string;
      readonly reason: string;
    }
  | {
      readonly type: "job-verified";
      readonly jobId: string;
      readonly verified: boolean;
      readonly digest?: string;
      readonly reason?: string;
    };

export type Action =
  | { readonly type: "check-output"; readonly spec: MatmulJobSpec; readonly record: OutputRecord }
  | {
      readonly type: "verify-job";
      readonly jobId: string;
      readonly spec: MatmulJobSpec;
      /** Reported CRC32C of every output tile, by reduce task id. */
      readonly checksums: ReadonlyMap<string, string>;
    }
  | { readonly type: "clean-partials"; readonly jobId: string }
  /** Delete everything stored under `jobs/<jobId>/`, then jobDeleted(). */
  | { readonly type: "delete-job"; readonly jobId: string };

/** Result of checking one stored output against what its completion reported. */
export type OutputCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** What a storage head/get told us about an object (null = it does not exist). */
export interface StoredObjectFacts {
  readonly bytes: number;
  readonly checksum: string;
}

export interface TrackerOptions {
  readonly keepPartials: boolean;
  readonly partialsGraceMs: number;
  readonly maxResetsPerJob: number;
}

/** A loosely typed committed event (the decoded ManifestEvent, read field by field). */
export interface LooseEvent {
  readonly category: string;
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface EventBatchLike {
  readonly index: number;
  readonly at: number;
  readonly events: readonly LooseEvent[];
}

/** Bytes of a float32 tile file with a t×t payload (64-byte header, see libs/matrix tile-format). */
export function tileFileBytes(tile: number): number {
  return 64 + tile * tile * 4;
}

/** Deterministic key of a task's output: partial for a map, output tile for a reduce. */
export function keyOfTask(
  jobId: string,
  taskId: string,
  tilesPerSide: number,
  partialsPerReduce = tilesPerSide,
): string {
  const c = parseTaskId(taskId, tilesPerSide, partialsPerReduce);
  return c.kind === "map" ? partialKey(jobId, c.i, c.j, c.k) : outputKey(jobId, c.i, c.j);
}

/**
 * Decides whether a stored object is the output its completion reported: it must exist, have the
 * reported size (which must be a tile's size) and the reported CRC32C; `contentError` is the
 * failure of a verified read of every byte (full mode), if any.
 */
export function decideOutputCheck(
  record: Pick<OutputRecord, "key" | "output">,
  expectedBytes: number,
  stored: StoredObjectFacts | null,
  contentError?: string,
): OutputCheck {
  const { output, key } = record;
  if (!output.uri.endsWith(key)) {
    return { ok: false, reason: `reported uri ${output.uri} is not the task's key ${key}` };
  }
  if (output.bytes !== expectedBytes) {
    return {
      ok: false,
      reason: `reported size ${output.bytes} B is not a tile's size ${expectedBytes} B`,
    };
  }
  if (stored === null) return { ok: false, reason: `output ${key} does not exist in storage` };
  if (stored.bytes !== output.bytes) {
    return {
      ok: false,
      reason: `output ${key} has ${stored.bytes} B in storage, completion reported ${output.bytes} B`,
    };
  }
  if (stored.checksum !== output.checksum) {
    return {
      ok: false,
      reason: `output ${key} has CRC32C ${stored.checksum} in storage, completion reported ${output.checksum}`,
    };
  }
  if (contentError !== undefined) {
    return { ok: false, reason: `output ${key} failed a verified read: ${contentError}` };
  }
  return { ok: true };
}

/** Freivalds outcome as the verdict step sees it (libs/matrix VerifyJobResult). */
export interface VerifyOutcome {
  readonly verified: boolean;
  readonly tilesChecked: number;
  readonly failures: readonly { i: number; j: number; reason: string }[];
}

/** Reason prefix libs/matrix verifyJob gives a tile whose bytes could not be read. */
const UNREADABLE = "output tile could not be read";

/**
 * Turns a job's Freivalds result into proposals: verified → job-verified(true, digest); tiles
 * that could not be READ (missing / checksum mismatch: a storage fault, not a wrong answer) →
 * task-reset of those reduces so they are recomputed, while this job's reset budget lasts; any
 * wrong value (or the budget spent) → job-verified(false, reason naming the tiles).
 */
export function decideVerdict(
  jobId: string,
  K: number,
  outcome: VerifyOutcome,
  digest: string,
  resetsSoFar: number,
  maxResets: number,
): Proposal[] {
  if (outcome.verified && outcome.tilesChecked === K * K && outcome.failures.length === 0) {
    return [{ type: "job-verified", jobId, verified: true, digest }];
  }
  const unreadable = outcome.failures.filter((f) => f.reason.startsWith(UNREADABLE));
  const wrong = outcome.failures.filter((f) => !f.reason.startsWith(UNREADABLE));
  if (wrong.length === 0 && unreadable.length > 0 && resetsSoFar + unreadable.length <= maxResets) {
    return unreadable.map((f) => ({
      type: "task-reset" as const,
      jobId,
      taskId: `r-${f.i}-${f.j}`,
      reason: `storage-manager: ${f.reason}`,
    }));
  }
  const shown = (wrong.length > 0 ? wrong : unreadable).slice(0, 3);
  const more = outcome.failures.length - shown.length;
  const what =
    outcome.failures.length === 0
      ? `only ${outcome.tilesChecked} of ${K * K} output tiles were checked`
      : `${outcome.failures.length} of ${K * K} output tiles failed Freivalds verification: ${shown
          .map((f) => `C(${f.i},${f.j}): ${f.reason}`)
          .join("; ")}${more > 0 ? `; and ${more} more` : ""}`;
  return [{ type: "job-verified", jobId, verified: false, reason: what.slice(0, 1000) }];
}

function str(e: LooseEvent, field: string): string | undefined {
  const v = e[field];
  return typeof v === "string" ? v : undefined;
}

function num(e: LooseEvent, field: string): number | undefined {
  const v = e[field];
  return typeof v === "number" ? v : undefined;
}

export class JobTracker {
  private readonly jobs = new Map<string, TrackedJob>();
  /**
   * The current outputs waiting for a check, in report order, and per job the reduces whose
   * output checked ok. nextActions runs after every event batch: scanning every output of every
   * active job there made a job of n tasks cost O(n²).
   */
  private readonly unchecked = new Set<OutputRecord>();
  private readonly okReduces = new Map<string, number>();
  /**
   * Jobs deleted from the manifest whose stored objects (`jobs/<id>/`) are owed a deletion. Kept
   * apart from `jobs`: a job submitted before TESSERA_EVENTS' retention window is unknown after a
   * restart, and its objects must go all the same (the id is all a deletion needs).
   */
  private readonly deletions = new Map<string, "pending" | "running">();
  /** Highest event index applied (batches at or below it are repeats). */
  private lastIndex = 0;

  constructor(private readonly options: TrackerOptions) {}

  get appliedIndex(): number {
    return this.lastIndex;
  }

  job(jobId: string): TrackedJob | undefined {
    return this.jobs.get(jobId);
  }

  allJobs(): TrackedJob[] {
    return [...this.jobs.values()];
  }

  /** Applies one committed event batch. Repeats (index ≤ last applied) are ignored. */
  apply(batch: EventBatchLike): void {
    if (batch.index <= this.lastIndex) return;
    this.lastIndex = batch.index;
    for (const e of batch.events) this.applyEvent(e, batch.at);
  }

  private applyEvent(e: LooseEvent, at: number): void {
    const key = `${e.category}.${e.type}`;
    const jobId = str(e, "jobId");
    if (key === "job.submitted" && jobId !== undefined) {
      if (this.jobs.has(jobId)) return;
      const spec = e.spec as MatmulJobSpec;
      this.jobs.set(jobId, {
        jobId,
        spec,
        maps: num(e, "maps") ?? 0,
        reduces: num(e, "reduces") ?? 0,
        state: "active",
        outputs: new Map(),
        verify: "idle",
        resets: 0,
        // An "empty" job's tasks store nothing: no partial to clean up.
        partials: spec.mode === "empty" ? "cleaned" : "present",
      });
      return;
    }
    if (jobId === undefined) return;
    if (key === "job.deleted") {
      this.forgetJob(jobId);
      this.deletions.set(jobId, "pending");
      return;
    }
    const job = this.jobs.get(jobId);
    if (!job) return;
    switch (key) {
      case "task.completed": {
        const taskId = str(e, "taskId");
        const output = e.output as ReportedOutput | undefined;
        const attempt = num(e, "attempt");
        if (!taskId || !output || attempt === undefined) return;
        // An "empty" job's outputs are not stored (the manifest checked they say so), and the
        // job succeeds without a verdict: nothing to check or verify.
        if (job.spec.mode === "empty") return;
        const K = tilesPerSide(job.spec);
        const kind = taskId.startsWith("m-") ? "map" : "reduce";
        this.forgetOutput(job, taskId);
        const record: OutputRecord = {
          jobId,
          taskId,
          kind,
          attempt,
          key: keyOfTask(jobId, taskId, K, partialsPerReduce(job.spec)),
          output: { uri: output.uri, checksum: output.checksum, bytes: output.bytes },
          status: "unchecked",
        };
        job.outputs.set(taskId, record);
        this.unchecked.add(record);
        // A reduce completing after a reset (or a verification that found it unreadable) makes
        // the job verifiable again.
        if (kind === "reduce" && job.verify !== "done" && job.verify !== "running") {
          job.verify = "idle";
        }
        return;
      }
      case "task.reset": {
        const taskId = str(e, "taskId");
        if (taskId) this.forgetOutput(job, taskId);
        if (job.verify === "proposed") job.verify = "idle";
        return;
      }
      case "job.succeeded":
        this.finish(job, "succeeded", at);
        job.verify = "done";
        job.digest = str(e, "outputDigest") ?? str(e, "digest");
        return;
      case "job.failed":
        this.finish(job, "failed", at);
        return;
      case "job.cancelled":
        this.finish(job, "cancelled", at);
        return;

      default:
        return;
    }
  }

  private finish(job: TrackedJob, state: TrackedJobState, at: number): void {
    job.state = state;
    job.finishedAt = at;
    // Partials of a failed job are kept: they are what a person debugging it looks at.
    if (state === "failed" || this.options.keepPartials) job.partials = "kept";
  }

  /** True when every reduce of an active job has an output that checked ok. */
  readyToVerify(job: TrackedJob): boolean {
    if (job.state !== "active" || job.verify !== "idle") return false;
    return job.reduces > 0 && (this.okReduces.get(job.jobId) ?? 0) === job.reduces;
  }

  /** Every status change of a current output goes through here, to keep the indexes right. */
  private setStatus(record: OutputRecord, status: OutputStatus): void {
    if (record.kind === "reduce" && (record.status === "ok") !== (status === "ok")) {
      const n = (this.okReduces.get(record.jobId) ?? 0) + (status === "ok" ? 1 : -1);
      this.okReduces.set(record.jobId, n);
    }
    if (status === "unchecked") this.unchecked.add(record);
    else this.unchecked.delete(record);
    record.status = status;
  }

  /** Drops a task's current output (reset, or replaced by a newer attempt's). */
  private forgetOutput(job: TrackedJob, taskId: string): void {
    const old = job.outputs.get(taskId);
    if (!old) return;
    // Marked bad: out of both indexes. Only an in-flight check still holds it, and
    // outputChecked ignores that (no longer current).
    this.setStatus(old, "bad");
    job.outputs.delete(taskId);
  }

  /**
   * The work owed now: checks of unchecked outputs of active jobs, verification of jobs whose
   * reduces all checked ok, partial clean-up of finished jobs past the grace period. Marks what
   * it returns as in progress, so each action is handed out once per process.
   */
  nextActions(now: number): Action[] {
    const actions: Action[] = [];
    for (const record of this.unchecked) {
      const job = this.jobs.get(record.jobId);
      if (job?.state === "active") {
        this.setStatus(record, "checking");
        actions.push({ type: "check-output", spec: job.spec, record });
      } else {
        this.unchecked.delete(record); // the job is over: nothing to check any more
      }
    }
    for (const [jobId, status] of this.deletions) {
      if (status === "pending") {
        this.deletions.set(jobId, "running");
        actions.push({ type: "delete-job", jobId });
      }
    }
    for (const job of this.jobs.values()) {
      if (job.state === "active") {
        if (this.readyToVerify(job)) {
          job.verify = "running";
          const checksums = new Map<string, string>();
          for (const r of job.outputs.values()) {
            if (r.kind === "reduce") checksums.set(r.taskId, r.output.checksum);
          }
          actions.push({ type: "verify-job", jobId: job.jobId, spec: job.spec, checksums });
        }
      } else if (
        (job.state === "succeeded" || job.state === "cancelled") &&
        job.partials === "present" &&
        now >= (job.finishedAt ?? 0) + this.options.partialsGraceMs
      ) {
        job.partials = "cleaning";
        actions.push({ type: "clean-partials", jobId: job.jobId });
      }
    }
    return actions;
  }

  /**
   * Records a check's result and returns what to propose: output-verified when it is sound;
   * task-reset when it is not, unless the task is a map whose reduce already completed (its
   * partial is no longer needed, so recomputing it would be wasted work).
   */
  outputChecked(record: OutputRecord, result: OutputCheck): Proposal | undefined {
    const job = this.jobs.get(record.jobId);
    const current = job?.outputs.get(record.taskId);
    // A newer attempt replaced it, or the job is gone: this result is about nothing live.
    if (!job || current !== record) return undefined;
    if (result.ok) {
      this.setStatus(record, "ok");
      return job.state === "active"
        ? { type: "output-verified", jobId: record.jobId, taskId: record.taskId }
        : undefined;
    }
    this.setStatus(record, "bad");
    record.reason = result.reason;
    if (job.state !== "active") return undefined;
    if (record.kind === "map") {
      const c = parseTaskId(record.taskId);
      if (c.kind === "map" && job.outputs.get(`r-${c.i}-${c.j}`)?.status === "ok") return undefined;
    }
    job.resets++;
    return {
      type: "task-reset",
      jobId: record.jobId,
      taskId: record.taskId,
      reason: `storage-manager: ${result.reason}`,
    };
  }

  /** Records a verification's proposals (from decideVerdict) and updates the job. */
  jobVerified(jobId: string, proposals: readonly Proposal[]): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    const verdict = proposals.find((p) => p.type === "job-verified");
    if (verdict && verdict.type === "job-verified") {
      job.verify = "proposed";
      job.verdict = {
        verified: verdict.verified,
        ...(verdict.digest !== undefined ? { digest: verdict.digest } : {}),
        ...(verdict.reason !== undefined ? { reason: verdict.reason } : {}),
      };
      return;
    }
    // Resets: wait for those reduces to complete again.
    for (const p of proposals) {
      if (p.type !== "task-reset") continue;
      job.resets++;
      const r = job.outputs.get(p.taskId);
      if (r) {
        this.setStatus(r, "bad");
        r.reason = p.reason;
      }
    }
    job.verify = "idle";
  }

  /** Verification could not run (e.g. storage down): try again on a later tick. */
  verifyFailed(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (job && job.verify === "running") job.verify = "idle";
  }

  partialsCleaned(jobId: string, ok: boolean): void {
    const job = this.jobs.get(jobId);
    if (job && job.partials === "cleaning") job.partials = ok ? "cleaned" : "present";
  }

  private forgetJob(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (!job) return;
    for (const record of job.outputs.values()) this.unchecked.delete(record);
    this.okReduces.delete(jobId);
    this.jobs.delete(jobId);
  }

  /** A deleted job's objects are gone, or deleting them failed (retried on a later tick). */
  jobDeleted(jobId: string, ok: boolean): void {
    if (ok) this.deletions.delete(jobId);
    else if (this.deletions.has(jobId)) this.deletions.set(jobId, "pending");
  }

  /** Jobs removed from the manifest whose objects are still to be deleted (for inspection). */
  pendingDeletions(): string[] {
    return [...this.deletions.keys()];
  }

  /** An output check that could not run (storage unreachable): check it again later. */
  checkAbandoned(record: OutputRecord): void {
    const current = this.jobs.get(record.jobId)?.outputs.get(record.taskId) === record;
    if (current && record.status === "checking") this.setStatus(record, "unchecked");
  }
}
