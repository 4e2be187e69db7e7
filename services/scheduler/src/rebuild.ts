// Rebuilding the view from the manifest (on start and after a gap in the event stream).
//
// Consistency: every read returns the applied index it reflects. The view's index is the
// index of the first (jobs) read; each task/node read later may reflect more, so it records
// its own `asOf` and the reducer skips events at or below it. Events are consumed from the
// TESSERA_EVENTS position noted BEFORE the first read, so nothing committed after the reads
// is missed and nothing before them is applied twice.
//
// Cost: one read per task of each unfinished job (tasks the manifest derives lazily are cheap
// to read; a 4096/1024 job is 80 reads). Jobs bigger than `maxTaskReads` are read only
// partially — see README "Limits" (the manifest would need a bulk "live + done" query).

import {
  emptyView,
  indexTask,
  isFinished,
  type JobView,
  mapTaskId,
  newJob,
  reduceTaskId,
  resetTask,
  type SchedulerView,
  touchTask,
} from "./core/view.js";
import type { ManifestPort, ManifestTask } from "./manifest.js";

export interface RebuildResult {
  readonly view: SchedulerView;
  readonly tasksRead: number;
  /** Jobs whose tasks were too many to read one by one. */
  readonly truncatedJobs: string[];
}

async function pool<T>(
  items: readonly T[],
  width: number,
  fn: (t: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

export async function rebuildView(
  manifest: ManifestPort,
  options: { now: number; maxTaskReads: number; concurrency: number },
): Promise<RebuildResult> {
  const view = emptyView();
  const jobs = await manifest.jobs();
  view.index = jobs.appliedIndex;
  const stats = await manifest.stats();
  view.emergencyStop = stats.value.emergencyStop;
  const nodes = await manifest.nodes();
  for (const n of nodes.value) {
    view.nodes.set(n.nodeId, {
      nodeId: n.nodeId,
      labels: { ...n.labels },
      capacity: { ...n.capacity },
      executionProvider: n.executionProvider,
      state: n.state,
      drained: n.drained,
      lastFailureAt: n.failedAt ?? undefined,
    });
  }
  let tasksRead = 0;
  const truncatedJobs: string[] = [];
  let budget = options.maxTaskReads;
  for (const mj of jobs.value) {
    const job: JobView = newJob(mj.jobId, mj.spec, mj.maxAttempts, mj.submitIndex, mj.state);
    job.asOf = jobs.appliedIndex;
    job.failedReason = mj.failure
      ? `${mj.failure.taskId ? `${mj.failure.taskId}: ` : ""}${mj.failure.reason}`
      : undefined;
    view.jobs.set(mj.jobId, job);
    if (isFinished(mj.state)) continue;
    const T = job.tiles;
    const ids: string[] = [];
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        for (let k = 0; k < T; k++) ids.push(mapTaskId(i, j, k));
        ids.push(reduceTaskId(i, j));
      }
    }
    if (ids.length > budget) {
      truncatedJobs.push(mj.jobId);
      ids.length = Math.max(0, budget);
    }
    budget -= ids.length;
    await pool(ids, options.concurrency, async (taskId) => {
      const r = await manifest.task(mj.jobId, taskId);
      tasksRead++;
      const mt = r.value;
      if (!mt) return;
      if (mt.lastAttempt === 0 && mt.state === "pending") return; // untouched: stays implicit
      applyTaskRead(job, taskId, mt, r.appliedIndex, options.now);
    });
  }
  return { view, tasksRead, truncatedJobs };
}

/**
 * Sets one task to exactly what the manifest said at `appliedIndex` (counters adjusted by the
 * difference), and marks it so events at or below that index are not applied again.
 */
export function applyTaskRead(
  job: JobView,
  taskId: string,
  mt: ManifestTask,
  appliedIndex: number,
  now: number,
): void {
  const t = touchTask(job, taskId);
  if (!t || appliedIndex <= t.asOf) return;
  t.asOf = appliedIndex;
  t.lastAttempt = mt.lastAttempt;
  if (mt.failures !== t.failures) {
    t.failures = mt.failures;
    // Backoff anchor unknown after a restart: count from now (conservative).
    if (mt.failures > 0) t.lastFailureAt = now;
  }
  t.live.clear();
  for (const a of mt.live) {
    t.live.set(a.attempt, {
      attempt: a.attempt,
      nodeId: a.nodeId ?? undefined,
      startedAt: a.startedAt,
      speculative: a.speculative,
      deadlineAt: a.deadlineAt ?? undefined,
    });
  }
  const done = mt.state === "done";
  if (done && !t.completed) {
    t.completed = {
      attempt: mt.outputAttempt ?? mt.lastAttempt,
      nodeId: "",
      at: now,
      durationMs: 0,
    };
    if (t.kind === "map") {
      job.mapsDone++;
      const row = t.i * job.tiles + t.j;
      job.rowMapsDone[row] = (job.rowMapsDone[row] ?? 0) + 1;
    } else {
      job.reducesDone++;
    }
  } else if (!done && t.completed) {
    resetTask(job, t);
  }
  t.failedReason =
    mt.state === "failed" ? "failed permanently (read from the manifest)" : undefined;
  indexTask(job, t);
}
