// Which tasks may get a new attempt now, in the order they should get one.
//
// Runnable = not complete, not permanently failed, no live attempt, backoff elapsed, and for a
// reduce: every partial (i,j,k) complete. Order inside a job:
//   1. reduces whose partials are all done (they finish the job and free partial storage),
//   2. retries that are due (they hold back a row whose other partials may be done),
//   3. fresh maps in (i, j, k) order, so row (i,j) completes before the next one starts and
//      its reduce can begin while later rows still map.
// Jobs are served oldest submit first (FIFO); pause/cancel/emergency are handled by the planner.
//
// Lazy: a 2-million-map job is never materialised; `runnableTasks` is a generator the planner
// stops pulling as soon as it has no more free slots.
import { type RetryPolicy, retryDueAt } from "./retry.js";
import {
  type JobView,
  mapOrdinal,
  mapTaskId,
  parseTaskId,
  reduceReady,
  reduceTaskId,
  type TaskKind,
  type TaskView,
} from "./view.js";

export interface RunnableTask {
  readonly jobId: string;
  readonly taskId: string;
  readonly kind: TaskKind;
  readonly i: number;
  readonly j: number;
  readonly k: number | undefined;
  /** The attempt number the next attempt-start must carry (fencing: last + 1). */
  readonly attempt: number;
  /**
   * Why it is runnable now, for logs: fresh | retry | reduce-ready; "armed": not runnable yet,
   * see armableReduces.
   */
  readonly why: "fresh" | "retry" | "reduce-ready" | "armed";
}

/** Runnable now or only later (backoff)? */
export function taskRunnableAt(
  job: JobView,
  task: TaskView | undefined,
  retry: RetryPolicy,
): number | undefined {
  if (task?.completed || task?.failedReason !== undefined) return undefined;
  if (task && task.live.size > 0) return undefined;
  if (task?.kind === "reduce" && !reduceReady(job, task.i, task.j)) return undefined;
  // A partial reset after its reduce completed is not needed any more (the manifest refuses it).
  if (task?.kind === "map" && job.tasks.get(reduceTaskId(task.i, task.j))?.completed)
    return undefined;
  if (!task || task.failures === 0) return 0;
  return retryDueAt(task.failures, task.lastFailureAt ?? 0, retry);
}

/** The task and the attempt number its next attempt-start must carry (fencing: last + 1). */
export function nextAttempt(job: JobView, t: TaskView): Omit<RunnableTask, "why"> {
  return {
    jobId: job.jobId,
    taskId: t.taskId,
    kind: t.kind,
    i: t.i,
    j: t.j,
    k: t.k,
    attempt: t.lastAttempt + 1,
  };
}

function toRunnable(job: JobView, t: TaskView, why: RunnableTask["why"]): RunnableTask {
  return { ...nextAttempt(job, t), why };
}

/**
 * Runnable tasks of one job in priority order. `skip` holds task ids the caller already has a
 * proposal in flight for. Yields lazily; a call costs O(tiles² + unsettled tasks) before its
 * first fresh map, which are enumerated in (i,j,k) order from the job's fresh cursor.
 */
export function* runnableTasks(
  job: JobView,
  now: number,
  retry: RetryPolicy,
  skip: ReadonlySet<string> = new Set(),
): Generator<RunnableTask> {
  const T = job.tiles;
  // 1. reduces whose rows are complete.
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      if (job.reduced[i * T + j] || !reduceReady(job, i, j)) continue;
      const id = reduceTaskId(i, j);
      if (skip.has(id)) continue;
      const t = job.tasks.get(id);
      const at = taskRunnableAt(job, t, retry);
      if (at === undefined || at > now) continue;
      yield t
        ? toRunnable(job, t, t.failures > 0 ? "retry" : "reduce-ready")
        : {
            jobId: job.jobId,
            taskId: id,
            kind: "reduce",
            i,
            j,
            k: undefined,
            attempt: 1,
            why: "reduce-ready",
          };
    }
  }
  // 2. due map retries, in (i,j,k) order (deterministic whatever the Map's insertion order).
  const retries: TaskView[] = [];
  for (const t of job.unsettled) {
    if (t.kind !== "map" || t.lastAttempt === 0 || skip.has(t.taskId)) continue;
    const at = taskRunnableAt(job, t, retry);
    if (at !== undefined && at <= now) retries.push(t);
  }
  retries.sort((a, b) => mapOrdinal(job, a.i, a.j, a.k ?? 0) - mapOrdinal(job, b.i, b.j, b.k ?? 0));
  for (const t of retries) yield toRunnable(job, t, "retry");
  // 3. fresh maps, row by row, from the first map never started.
  const G = job.partials;
  const total = T * T * G;
  for (let o = job.freshCursor; o < total; o++) {
    const k = o % G;
    const row = (o - k) / G;
    const i = Math.floor(row / T);
    const j = row % T;
    if (k === 0 && reduceReady(job, i, j)) {
      o += G - 1; // the whole row is done
      continue;
    }
    const id = mapTaskId(i, j, k);
    if (skip.has(id)) continue;
    const t = job.tasks.get(id);
    if (t && t.lastAttempt > 0) continue; // started before: live, done, or a retry above
    if (t?.completed || t?.failedReason !== undefined) continue;
    yield {
      jobId: job.jobId,
      taskId: id,
      kind: "map",
      i,
      j,
      k,
      attempt: (t?.lastAttempt ?? 0) + 1,
      why: "fresh",
    };
  }
}

/**
 * Reduces to arm (attempt-start whenReady): not runnable yet, but each of their partials is
 * complete, has a live attempt, or is in `starting` (map task ids of this job whose start is
 * decided or in flight), so the manifest can start the reduce in the entry that completes the
 * last of them. A reduce that was ever started, failed or is in `skip` is left to the ordinary
 * path. Cost: O(unsettled + starting), never the job's size.
 */
export function* armableReduces(
  job: JobView,
  starting: Iterable<string>,
  skip: ReadonlySet<string>,
): Generator<RunnableTask> {
  const T = job.tiles;
  /** Row (i·T + j) → partials k running or starting. */
  const rows = new Map<number, Set<number>>();
  const note = (i: number, j: number, k: number | undefined) => {
    if (k === undefined) return;
    const row = i * T + j;
    const ks = rows.get(row) ?? new Set<number>();
    ks.add(k);
    rows.set(row, ks);
  };
  for (const t of job.unsettled) if (t.kind === "map" && t.live.size > 0) note(t.i, t.j, t.k);
  for (const id of starting) {
    const p = parseTaskId(id);
    if (p?.kind === "map") note(p.i, p.j, p.k);
  }
  for (const [row, ks] of rows) {
    if (job.reduced[row] || (job.rowMapsDone[row] ?? 0) + ks.size < job.partials) continue;
    const i = Math.floor(row / T);
    const j = row % T;
    if (reduceReady(job, i, j)) continue; // runnable: the ordinary path starts it
    const id = reduceTaskId(i, j);
    if (skip.has(id)) continue;
    const t = job.tasks.get(id);
    if (t && (t.lastAttempt > 0 || t.failedReason !== undefined)) continue;
    yield {
      jobId: job.jobId,
      taskId: id,
      kind: "reduce",
      i,
      j,
      k: undefined,
      attempt: 1,
      why: "armed",
    };
  }
}
