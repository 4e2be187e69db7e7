// The scheduler's picture of the manifest: jobs, their tasks' attempts, nodes, controls.
// Pure data plus a pure reducer over committed event batches. It is rebuilt from the manifest
// (see manifest-snapshot.ts) on start and after any gap; events only move it forward.
//
// Compactness: a job of N tiles per side has N^3 maps. Only tasks that have been touched
// (started, completed, failed, ...) get a TaskView; an absent task is "never started". Per
// (i,j) row counters make "is reduce (i,j) runnable" O(1).
//
// Planning cost: the planner runs after every event batch, so it must not walk every task a job
// ever touched (a big job would make each pass, and so each task, O(job size)). Two indexes,
// kept by the reducer, bound a pass by what is in flight: `unsettled` (tasks with a live attempt
// or waiting for a retry) and `freshCursor` (every map before it has been started).
import type { ManifestEvent, ManifestEventBatchV1, MatmulJobSpec } from "@tessera/protocol";

export type JobState =
  | "queued"
  | "running"
  | "paused"
  | "cancelled"
  | "failed"
  | "succeeded"
  /** Every reduce done; the storage-manager is verifying (a task-reset sends it back to running). */
  | "verifying";
export type TaskKind = "map" | "reduce";

export interface LiveAttempt {
  readonly attempt: number;
  /** Node the attempt was placed on (scheduler hint) or claimed by. */
  nodeId: string | undefined;
  /** Leader-stamped time of the attempt-start entry (ms since the epoch). */
  readonly startedAt: number;
  readonly speculative: boolean;
  readonly deadlineAt: number | undefined;
  /** The attempt-start-batch that started it: its work travels in that batch's WorkBatchV1. */
  readonly batch: string | undefined;
}

export interface TaskView {
  readonly taskId: string;
  readonly kind: TaskKind;
  readonly i: number;
  readonly j: number;
  readonly k: number | undefined;
  /** Highest attempt number ever started (0 = never started). */
  lastAttempt: number;
  /** Live attempts by number (at most two: one plus a speculative one). */
  readonly live: Map<number, LiveAttempt>;
  /** Set once an attempt completed. */
  completed: { attempt: number; nodeId: string; at: number; durationMs: number } | undefined;
  /** Set when the manifest failed the task permanently. */
  failedReason: string | undefined;
  /** Attempts that ended without a result (failed or expired) since the last completion. */
  failures: number;
  lastFailureAt: number | undefined;
  lastFailureReason: string | undefined;
  lastFailureNode: string | undefined;
  /** Log index this task was read at during a rebuild: events up to it are already reflected. */
  asOf: number;
}

export interface JobView {
  readonly jobId: string;
  readonly spec: MatmulJobSpec;
  /** Tiles per side (n / tile). */
  readonly tiles: number;
  /** Maps per output tile = partials per reduce: tiles / kPerMap (the spec's; 1 by default). */
  readonly partials: number;
  readonly maxAttempts: number;
  /** Log index of the submit: jobs are served oldest first. */
  readonly submitIndex: number;
  state: JobState;
  readonly tasks: Map<string, TaskView>;
  /**
   * Tasks the planner must look at: a live attempt, or started and neither complete nor failed
   * for good (a retry or a reset is due). Completed and untouched tasks are not in it.
   */
  readonly unsettled: Set<TaskView>;
  /** Map ordinal (row-first, see mapOrdinal) before which every map has been started. */
  freshCursor: number;
  /** Completed maps per (i,j), row-major i*tiles+j. */
  readonly rowMapsDone: Uint32Array;
  /**
   * 1 where the (i,j) reduce is complete, row-major: the planner passes finished rows without
   * building their task ids (most rows, late in a job, and it looks at every row each plan).
   */
  readonly reduced: Uint8Array;
  /** Reduces the manifest announced as runnable (task.reduce-ready), or derived from rowMapsDone. */
  mapsDone: number;
  reducesDone: number;
  /** Why the job failed (from job.failed), for status output. */
  failedReason: string | undefined;
  /** Log index the job was read at during a rebuild (see TaskView.asOf). */
  asOf: number;
}

export interface NodeView {
  readonly nodeId: string;
  labels: { cloud: string; region: string; zone: string; pool: string };
  capacity: { slots: number; cpus: number; memoryBytes: number; gpus: number };
  executionProvider: string;
  state: "active" | "failed";
  drained: boolean;
  /** Last time the node failed or an attempt on it failed/expired (cooldown anchor). */
  lastFailureAt: number | undefined;
}

export interface SchedulerView {
  /** Highest manifest log index reflected in this view. */
  index: number;
  emergencyStop: boolean;
  readonly jobs: Map<string, JobView>;
  readonly nodes: Map<string, NodeView>;
}

export function emptyView(): SchedulerView {
  return { index: 0, emergencyStop: false, jobs: new Map(), nodes: new Map() };
}

/** Parses `m-i-j-k` / `r-i-j`; undefined for anything else. */
export function parseTaskId(
  taskId: string,
): { kind: TaskKind; i: number; j: number; k: number | undefined } | undefined {
  const m = /^([mr])-(\d{1,9})-(\d{1,9})(?:-(\d{1,9}))?$/.exec(taskId);
  if (!m) return undefined;
  const kind: TaskKind = m[1] === "m" ? "map" : "reduce";
  const k = m[4] === undefined ? undefined : Number(m[4]);
  if ((kind === "map") !== (k !== undefined)) return undefined;
  return { kind, i: Number(m[2]), j: Number(m[3]), k };
}

export function mapTaskId(i: number, j: number, k: number): string {
  return `m-${i}-${j}-${k}`;
}

export function reduceTaskId(i: number, j: number): string {
  return `r-${i}-${j}`;
}

export function newJob(
  jobId: string,
  spec: MatmulJobSpec,
  maxAttempts: number,
  submitIndex: number,
  state: JobState = "queued",
): JobView {
  const tiles = spec.n / spec.tile;
  return {
    jobId,
    spec,
    tiles,
    partials: tiles / (spec.kPerMap ?? 1),
    maxAttempts,
    submitIndex,
    state,
    tasks: new Map(),
    unsettled: new Set(),
    freshCursor: 0,
    rowMapsDone: new Uint32Array(tiles * tiles),
    reduced: new Uint8Array(tiles * tiles),
    mapsDone: 0,
    reducesDone: 0,
    failedReason: undefined,
    asOf: 0,
  };
}

/** The task's view, created (never started) on first touch. */
export function touchTask(job: JobView, taskId: string): TaskView | undefined {
  const existing = job.tasks.get(taskId);
  if (existing) return existing;
  const parsed = parseTaskId(taskId);
  if (!parsed) return undefined;
  const { i, j, k } = parsed;
  if (i >= job.tiles || j >= job.tiles || (k !== undefined && k >= job.partials)) return undefined;
  const t: TaskView = {
    taskId,
    kind: parsed.kind,
    i,
    j,
    k,
    lastAttempt: 0,
    live: new Map(),
    completed: undefined,
    failedReason: undefined,
    failures: 0,
    lastFailureAt: undefined,
    lastFailureReason: undefined,
    lastFailureNode: undefined,
    asOf: 0,
  };
  job.tasks.set(taskId, t);
  return t;
}

export function isFinished(state: JobState): boolean {
  return state === "cancelled" || state === "failed" || state === "succeeded";
}

type MapGrid = Pick<JobView, "tiles" | "partials">;

/** Position of map (i,j,k) in the row-first order maps are started in. */
export function mapOrdinal(job: MapGrid, i: number, j: number, k: number): number {
  return (i * job.tiles + j) * job.partials + k;
}

/** The map at a row-first ordinal. */
export function mapIdAt(job: MapGrid, ordinal: number): string {
  const k = ordinal % job.partials;
  const row = (ordinal - k) / job.partials;
  return mapTaskId(Math.floor(row / job.tiles), row % job.tiles, k);
}

/** A task that will never be offered as a fresh map again (started, done or failed for good). */
function leftFresh(t: TaskView | undefined): boolean {
  return t !== undefined && (t.lastAttempt > 0 || !!t.completed || t.failedReason !== undefined);
}

/**
 * Keeps the job's planning indexes true after `t` changed: call after every mutation of a
 * task. The fresh cursor only moves forward (a started map never becomes unstarted), so its
 * total cost over a job is O(maps).
 */
export function indexTask(job: JobView, t: TaskView): void {
  const unsettled =
    t.live.size > 0 || (t.lastAttempt > 0 && !t.completed && t.failedReason === undefined);
  if (unsettled) job.unsettled.add(t);
  else job.unsettled.delete(t);
  if (t.kind !== "map") return;
  const total = job.tiles ** 2 * job.partials;
  while (job.freshCursor < total && leftFresh(job.tasks.get(mapIdAt(job, job.freshCursor))))
    job.freshCursor++;
}

/** Reduce (i,j) may run: every partial (i,j,k) is complete. */
export function reduceReady(job: JobView, i: number, j: number): boolean {
  return (job.rowMapsDone[i * job.tiles + j] ?? 0) >= job.partials;
}

/** What applying one batch meant for the view. */
export type ApplyOutcome =
  | { readonly kind: "applied" }
  /** index <= view.index: a re-published batch we already reflect. */
  | { readonly kind: "stale" }
  /** The batch does not fit the view (missed events): the caller must rebuild from the manifest. */
  | { readonly kind: "inconsistent"; readonly reason: string };

/** Side observations the shell feeds to the breaker / cooldown / reset logic. */
export interface Observation {
  readonly type: "attempt-failed" | "attempt-expired" | "task-completed" | "node-failed";
  readonly at: number;
  readonly jobId?: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly nodeId?: string;
  readonly reason?: string;
  readonly kind?: TaskKind;
  /** task-completed: the agent's own run time (excludes queueing and the control plane). */
  readonly runMs?: number;
}

/**
 * Applies a committed batch. Mutates `view` (the scheduler owns exactly one) and appends what it
 * saw to `observations`. Deterministic: the same batches in the same order give the same view.
 */
export function applyBatch(
  view: SchedulerView,
  batch: ManifestEventBatchV1,
  observations: Observation[] = [],
): ApplyOutcome {
  if (batch.index <= view.index) return { kind: "stale" };
  for (const ev of batch.events) {
    const problem = applyEvent(view, ev, batch.index, batch.at, observations);
    if (problem) {
      return {
        kind: "inconsistent",
        reason: `index ${batch.index} ${ev.category}.${ev.type}: ${problem}`,
      };
    }
  }
  view.index = batch.index;
  return { kind: "applied" };
}

function applyEvent(
  view: SchedulerView,
  ev: ManifestEvent,
  index: number,
  at: number,
  obs: Observation[],
): string | undefined {
  if (ev.category === "control") {
    // A feature-level raise changes nothing the scheduler plans with.
    if (ev.type !== "emergency-stop") return undefined;
    view.emergencyStop = ev.engaged;
    if (ev.engaged) for (const job of view.jobs.values()) releaseAll(job);
    return undefined;
  }
  if (ev.category === "node") return applyNodeEvent(view, ev, at, obs);
  if (ev.category === "job" && ev.type === "submitted") {
    if (view.jobs.has(ev.jobId)) return undefined; // idempotent resubmit of the same spec
    view.jobs.set(ev.jobId, newJob(ev.jobId, ev.spec, ev.maxAttempts, index));
    return undefined;
  }
  if (ev.category === "job" && ev.type === "deleted") {
    view.jobs.delete(ev.jobId); // finished before it was deleted: nothing of it is live
    return undefined;
  }
  const job = view.jobs.get(ev.jobId);
  if (!job) return `unknown job ${ev.jobId}`;
  if (index <= job.asOf) return undefined; // the rebuild read already reflects it
  if (ev.category === "job") {
    switch (ev.type) {
      case "started":
        job.state = "running";
        return undefined;
      case "paused":
        job.state = "paused";
        return undefined;
      case "resumed":
        job.state = ev.state;
        return undefined;
      case "cancelled":
        job.state = "cancelled";
        forgetTasks(job);
        return undefined;
      case "computed":
        job.state = "verifying";
        return undefined;
      case "succeeded":
        job.state = "succeeded";
        forgetTasks(job);
        return undefined;
      case "failed":
        job.state = "failed";
        job.failedReason = ev.taskId ? `${ev.taskId}: ${ev.reason}` : ev.reason;
        forgetTasks(job);
        return undefined;
    }
    return undefined;
  }
  // A finished job never changes again (the manifest rejects every command on it); events of its
  // attempts released with it, later in the same batch, have nothing left to update.
  if (isFinished(job.state)) return undefined;
  // task events
  const task = touchTask(job, ev.taskId);
  if (!task) return `task ${ev.taskId} is not a task of job ${job.jobId}`;
  if (index <= task.asOf) return undefined;
  const problem = applyTaskEvent(view, job, task, ev, at, obs);
  indexTask(job, task);
  return problem;
}

function applyTaskEvent(
  view: SchedulerView,
  job: JobView,
  task: TaskView,
  ev: Extract<ManifestEvent, { category: "task" }>,
  at: number,
  obs: Observation[],
): string | undefined {
  switch (ev.type) {
    case "reset": {
      // A corrupt output went back to runnable.
      resetTask(job, task);
      job.state = ev.jobState;
      return undefined;
    }
    case "started": {
      if (ev.attempt !== task.lastAttempt + 1) {
        return `attempt ${ev.attempt} started but the last known attempt is ${task.lastAttempt}`;
      }
      task.lastAttempt = ev.attempt;
      task.live.set(ev.attempt, {
        attempt: ev.attempt,
        nodeId: ev.nodeId,
        startedAt: at,
        speculative: ev.speculative,
        deadlineAt: ev.deadlineAt,
        batch: ev.batch,
      });
      if (job.state === "queued") job.state = "running";
      return undefined;
    }
    case "claimed": {
      const live = task.live.get(ev.attempt);
      if (live) live.nodeId = ev.nodeId;
      return undefined;
    }
    case "completed": {
      const live = task.live.get(ev.attempt);
      if (task.completed) return undefined; // idempotent repeat
      const startedAt = live?.startedAt ?? at;
      completeTask(job, task, {
        attempt: ev.attempt,
        nodeId: ev.nodeId,
        at,
        durationMs: Math.max(0, at - startedAt),
      });
      task.live.delete(ev.attempt);
      task.failures = 0;
      obs.push({
        type: "task-completed",
        at,
        jobId: job.jobId,
        taskId: task.taskId,
        attempt: ev.attempt,
        nodeId: ev.nodeId,
        kind: task.kind,
        ...(ev.runMs !== undefined ? { runMs: ev.runMs } : {}),
      });
      return undefined;
    }
    case "reduce-ready": {
      // Derived locally from rowMapsDone; a mismatch means we missed completions.
      if (!reduceReady(job, task.i, task.j))
        return `reduce ${task.taskId} is ready but not all partials are known complete`;
      return undefined;
    }
    case "attempt-failed": {
      const live = task.live.get(ev.attempt);
      task.live.delete(ev.attempt);
      noteFailure(view, task, at, ev.reason, ev.nodeId ?? live?.nodeId);
      obs.push({
        type: "attempt-failed",
        at,
        jobId: job.jobId,
        taskId: task.taskId,
        attempt: ev.attempt,
        nodeId: ev.nodeId ?? live?.nodeId,
        reason: ev.reason,
        kind: task.kind,
      });
      return undefined;
    }
    case "attempt-expired": {
      const live = task.live.get(ev.attempt);
      task.live.delete(ev.attempt);
      // Losing the node is not the task's fault: it neither counts nor backs off.
      if (!isNodeLoss(ev.reason)) noteFailure(view, task, at, ev.reason, ev.nodeId ?? live?.nodeId);
      obs.push({
        type: "attempt-expired",
        at,
        jobId: job.jobId,
        taskId: task.taskId,
        attempt: ev.attempt,
        nodeId: ev.nodeId ?? live?.nodeId,
        reason: ev.reason,
        kind: task.kind,
      });
      return undefined;
    }
    case "attempt-released":
      task.live.delete(ev.attempt);
      return undefined;
    case "armed":
    case "disarmed":
      // Not an attempt yet (the shell tracks its own armings); an armed start arrives as
      // task.started.
      return undefined;
    case "failed":
      task.failedReason = ev.reason;
      task.live.clear();
      return undefined;
  }
  return undefined;
}

/** Expiry reasons that blame the node, not the task (manifest's and ours). */
export function isNodeLoss(reason: string): boolean {
  return /^node \S+ (failed|stopped sending heartbeats|does not hold)/.test(reason);
}

function noteFailure(
  view: SchedulerView,
  task: TaskView,
  at: number,
  reason: string,
  nodeId: string | undefined,
) {
  task.failures++;
  task.lastFailureAt = at;
  task.lastFailureReason = reason;
  task.lastFailureNode = nodeId;
  const node = nodeId === undefined ? undefined : view.nodes.get(nodeId);
  if (node) node.lastFailureAt = at;
}

/** Marks a task complete and counts it (maps per row, reduces per row, job totals). */
export function completeTask(
  job: JobView,
  task: TaskView,
  completed: NonNullable<TaskView["completed"]>,
): void {
  if (task.completed) return;
  task.completed = completed;
  const row = task.i * job.tiles + task.j;
  if (task.kind === "map") {
    job.mapsDone++;
    job.rowMapsDone[row] = (job.rowMapsDone[row] ?? 0) + 1;
  } else {
    job.reducesDone++;
    job.reduced[row] = 1;
  }
}

/** A completed task goes back to runnable (its output was found corrupt). */
export function resetTask(job: JobView, task: TaskView): void {
  if (!task.completed) return;
  task.completed = undefined;
  const row = task.i * job.tiles + task.j;
  if (task.kind === "map") {
    job.mapsDone--;
    job.rowMapsDone[row] = Math.max(0, (job.rowMapsDone[row] ?? 0) - 1);
  } else {
    job.reducesDone--;
    job.reduced[row] = 0;
  }
  indexTask(job, task);
}

/**
 * A finished job keeps its shell (state, counts, failure reason) and drops its tasks, as a
 * rebuild reads it: a scheduler that runs for weeks must not hold every task it ever planned.
 */
function forgetTasks(job: JobView) {
  job.tasks.clear();
  job.unsettled.clear();
}

function releaseAll(job: JobView) {
  // Every task with a live attempt is in `unsettled`; copy it, indexTask may remove entries.
  for (const t of [...job.unsettled]) {
    t.live.clear();
    indexTask(job, t);
  }
}

function applyNodeEvent(
  view: SchedulerView,
  ev: Extract<ManifestEvent, { category: "node" }>,
  at: number,
  obs: Observation[],
): string | undefined {
  switch (ev.type) {
    case "joined":
    case "changed":
    case "recovered": {
      const existing = view.nodes.get(ev.nodeId);
      if (existing) {
        existing.labels = { ...ev.labels };
        existing.capacity = { ...ev.capacity };
        existing.executionProvider = ev.executionProvider;
        existing.state = "active";
      } else {
        view.nodes.set(ev.nodeId, {
          nodeId: ev.nodeId,
          labels: { ...ev.labels },
          capacity: { ...ev.capacity },
          executionProvider: ev.executionProvider,
          state: "active",
          drained: false,
          lastFailureAt: undefined,
        });
      }
      return undefined;
    }
    case "failed": {
      const node = view.nodes.get(ev.nodeId);
      if (node) {
        node.state = "failed";
        node.lastFailureAt = at;
      }
      obs.push({ type: "node-failed", at, nodeId: ev.nodeId, reason: ev.reason });
      return undefined;
    }
    case "drain": {
      const node = view.nodes.get(ev.nodeId);
      if (node) node.drained = ev.drained;
      return undefined;
    }
  }
  return undefined;
}
