// Rebuilding the view from the manifest (on start and after a gap in the event stream).
//
// Consistency: every read returns the applied index it reflects. The view's index is the
// index of the first (jobs) read; each task page read later may reflect more, so each task
// records its own `asOf` and the reducer skips events at or below it. Events are consumed from
// the TESSERA_EVENTS position noted BEFORE the first read, so nothing committed after the reads
// is missed and nothing before them is applied twice.
//
// Cost: one paged `tasks` read per `pageSize` touched tasks of each unfinished job (a task never
// started is implicit: pending); a 262,144-map job with every map done is ~263 reads of 1,000.

import {
  completeTask,
  emptyView,
  indexTask,
  isFinished,
  type JobView,
  newJob,
  resetTask,
  type SchedulerView,
  touchTask,
} from "./core/view.js";
import { SchedulerError, SchedulerErrorCode } from "./errors.js";
import type { ManifestPort, ManifestTask } from "./manifest.js";

export interface RebuildResult {
  readonly view: SchedulerView;
  /** Touched tasks read from the manifest. */
  readonly tasksRead: number;
  /** Paged reads it took. */
  readonly pages: number;
}

export async function rebuildView(
  manifest: ManifestPort,
  options: { now: number; pageSize: number },
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
  let pages = 0;
  for (const mj of jobs.value) {
    const job: JobView = newJob(mj.jobId, mj.spec, mj.maxAttempts, mj.submitIndex, mj.state);
    job.asOf = jobs.appliedIndex;
    job.failedReason = mj.failure
      ? `${mj.failure.taskId ? `${mj.failure.taskId}: ` : ""}${mj.failure.reason}`
      : undefined;
    view.jobs.set(mj.jobId, job);
    if (isFinished(mj.state)) continue;
    for (let from: number | null = 0; from !== null; ) {
      const r = await manifest.tasks(mj.jobId, from, options.pageSize);
      pages++;
      // A job the first read listed cannot vanish (jobs are never deleted): treat it as empty.
      if (!r.value) break;
      for (const mt of r.value.tasks)
        applyTaskRead(job, mt.taskId, mt, r.appliedIndex, options.now);
      tasksRead += r.value.tasks.length;
      if (r.value.next !== null && r.value.next <= from) {
        throw new SchedulerError(
          SchedulerErrorCode.Manifest,
          `manifest read tasks ${mj.jobId}@${from}: next ${r.value.next} does not advance (is the consensus service a compatible version?)`,
        );
      }
      from = r.value.next;
    }
  }
  return { view, tasksRead, pages };
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
      batch: a.batch ?? undefined,
    });
  }
  const done = mt.state === "done";
  if (done && !t.completed) {
    completeTask(job, t, {
      attempt: mt.outputAttempt ?? mt.lastAttempt,
      nodeId: "",
      at: now,
      durationMs: 0,
    });
  } else if (!done && t.completed) {
    resetTask(job, t);
  }
  t.failedReason =
    mt.state === "failed" ? "failed permanently (read from the manifest)" : undefined;
  indexTask(job, t);
}
