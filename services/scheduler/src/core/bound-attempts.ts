// Attempts the manifest binds to a node, and when this scheduler last knew that node held each.
//
// An attempt gets a node in the manifest when it is handed over with a report (the leader gives
// the reporting agent its next work in the reply) or claimed; the scheduler publishes no work
// item for it. If that reply is lost and the agent's re-asks find no leader, the agent never
// learns of the attempt while the manifest says the node runs it. Agents list what they hold in
// every heartbeat, so "bound, and not listed for a while by a node that keeps beating" is the
// signal (planner.ts notHeld); this keeps the "when" on this scheduler's own clock: the binding
// as seen here, moved forward by each heartbeat that lists the attempt.
import { attemptKey } from "./planner.js";
import type { SchedulerView } from "./view.js";

export class BoundAttempts {
  private readonly seen = new Map<string, number>();

  /** attemptKey → when the binding was seen or a heartbeat last listed it (ms, local clock). */
  get lastSeen(): ReadonlyMap<string, number> {
    return this.seen;
  }

  /** The manifest bound the attempt to a node (task.started with a nodeId, or task.claimed). */
  bound(key: string, now: number): void {
    this.seen.set(key, now);
  }

  /** A heartbeat listed these attempts (keys of attempts not bound are ignored). */
  listed(keys: readonly string[], now: number): void {
    for (const key of keys) if (this.seen.has(key)) this.seen.set(key, now);
  }

  /** The attempt ended (completed, failed, expired, released). */
  ended(key: string): void {
    this.seen.delete(key);
  }

  /** The job finished: none of its attempts is live any more. */
  endJob(jobId: string): void {
    for (const key of [...this.seen.keys()]) if (key.startsWith(`${jobId}/`)) this.seen.delete(key);
  }

  /**
   * After a rebuild: exactly the view's live bound attempts. Ones known before keep their time;
   * new ones count from `now` (a restarted scheduler waits a full window before judging).
   */
  resetFrom(view: SchedulerView, now: number): void {
    const live = new Map<string, number>();
    for (const job of view.jobs.values()) {
      for (const t of job.unsettled) {
        for (const a of t.live.values()) {
          if (a.nodeId === undefined) continue;
          const key = attemptKey(job.jobId, t.taskId, a.attempt);
          live.set(key, this.seen.get(key) ?? now);
        }
      }
    }
    this.seen.clear();
    for (const [key, at] of live) this.seen.set(key, at);
  }
}
