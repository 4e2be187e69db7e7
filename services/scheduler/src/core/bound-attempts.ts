// Attempts a node is known to hold, and when this scheduler last knew it held each.
//
// An attempt gets a node in the manifest when it is handed over with a report (the leader gives
// the reporting agent its next work in the reply) or claimed; the scheduler publishes no work
// item for it. If that reply is lost and the agent's re-asks find no leader, the agent never
// learns of the attempt while the manifest says the node runs it. An attempt an agent pulled
// from the work queue has no node in the manifest, but the agent's heartbeats list it: if that
// agent is killed and back under the same node id before the manifest notices (a restart faster
// than failure detection), the new process knows nothing of it, and nothing ends the attempt
// before the dead process's work message comes back (the ack wait) or its deadline. Agents list
// what they hold in every heartbeat, so "held by a node, and not listed for a while by that
// node while it keeps beating" is the signal (planner.ts notHeld); this keeps the "when" on
// this scheduler's own clock (the binding as seen here, moved forward by each heartbeat that
// lists the attempt) and, for attempts the manifest binds to no node, the node that listed it.
import { attemptKey } from "./planner.js";
import type { SchedulerView } from "./view.js";

export class BoundAttempts {
  private readonly seen = new Map<string, number>();
  private readonly observed = new Map<string, string>();

  /** attemptKey → when the binding was seen or a heartbeat last listed it (ms, local clock). */
  get lastSeen(): ReadonlyMap<string, number> {
    return this.seen;
  }

  /** attemptKey → the node whose heartbeats listed it, for attempts the manifest binds to none. */
  get listedBy(): ReadonlyMap<string, string> {
    return this.observed;
  }

  /** The manifest bound the attempt to a node (task.started with a nodeId, or task.claimed). */
  bound(key: string, now: number): void {
    this.seen.set(key, now);
    this.observed.delete(key);
  }

  /**
   * A heartbeat of `node` listed these live attempts (the caller leaves out any the view has not
   * started: work handed over early whose start never committed keeps an attempt number that
   * may still start elsewhere). One the manifest binds keeps its node; any other is held by
   * `node` from now on (the last node to list it: a redelivered work message moves it).
   */
  listed(node: string, keys: readonly string[], now: number): void {
    for (const key of keys) {
      if (!this.seen.has(key) || this.observed.has(key)) this.observed.set(key, node);
      this.seen.set(key, now);
    }
  }

  /** The attempt ended (completed, failed, expired, released). */
  ended(key: string): void {
    this.seen.delete(key);
    this.observed.delete(key);
  }

  /** The job finished: none of its attempts is live any more. */
  endJob(jobId: string): void {
    for (const key of [...this.seen.keys()]) {
      if (key.startsWith(`${jobId}/`)) this.ended(key);
    }
  }

  /**
   * After a rebuild: exactly the view's live attempts that are bound, or were listed by a node.
   * Ones known before keep their time (and listing node); new bound ones count from `now` (a
   * restarted scheduler waits a full window before judging).
   */
  resetFrom(view: SchedulerView, now: number): void {
    const live = new Map<string, number>();
    const observed = new Map<string, string>();
    for (const job of view.jobs.values()) {
      for (const t of job.unsettled) {
        for (const a of t.live.values()) {
          const key = attemptKey(job.jobId, t.taskId, a.attempt);
          const node = this.observed.get(key);
          if (a.nodeId !== undefined) live.set(key, this.seen.get(key) ?? now);
          else if (node !== undefined) {
            live.set(key, this.seen.get(key) ?? now);
            observed.set(key, node);
          }
        }
      }
    }
    this.seen.clear();
    this.observed.clear();
    for (const [key, at] of live) this.seen.set(key, at);
    for (const [key, node] of observed) this.observed.set(key, node);
  }
}
