// How many attempts a node may hold queued beyond its slots.
//
// A queued attempt lets an agent that finishes one item start the next at once, instead of
// waiting for the control-plane round trip that places it (completion commit → event → plan →
// attempt-start commit → publish → pull: 10–20 ms on one host, more across clouds). By Little's
// law a slot stays busy through a window W without that round trip when W ÷ task time attempts
// wait for it, so "auto" holds ceil(slots × W ÷ task time) per node, between 1 and
// MAX_AUTO_PREFETCH. Task time is the p75 of the agents' own run times for the job's tasks of
// that kind (reads, kernel, write: the completion's timings), not commit to commit, which would
// count the round trip and the queue itself. Matmul tiles of hundreds of ms keep one queued,
// empty tasks of a few ms several. Until siblings have completed it holds one.

export type PrefetchPolicy =
  /** A fixed number of queued attempts per node (0 = never more than its slots). */
  | { readonly fixed: number }
  /** Learned from the job: enough queued work to cover `windowMs` per slot. */
  | { readonly windowMs: number };

/**
 * Empty tasks (noop-tasks) need a deep queue: their run time is ~0.05 ms, so the queue is what
 * covers the round trip, and the deeper the pipeline the more commands share each Raft entry,
 * work-stream pull and event batch. Measured once the planner counted its own pending starts as
 * load (before, it over-started without bound, which hid the cap): 5,000 empty tasks on 2 cores
 * ran at 234–266 tasks/s with 4, 325 with 8, 409 with 16 and 490 with 32 (one run each).
 */
export const MAX_AUTO_PREFETCH = 32;

/**
 * Queued attempts allowed beyond `slots` for tasks whose agents' p75 run time is `taskMs` (a
 * batched job's tasks: core/batching.ts `batchedPrefetch`).
 */
export function prefetchFor(
  policy: PrefetchPolicy,
  slots: number,
  taskMs: number | undefined,
): number {
  if ("fixed" in policy) return policy.fixed;
  if (taskMs === undefined) return 1;
  const wanted = Math.ceil((slots * policy.windowMs) / Math.max(1, taskMs));
  return Math.min(MAX_AUTO_PREFETCH, Math.max(1, wanted));
}

/** `auto (window 50 ms)` or `4`, for logs. */
export function describePrefetch(policy: PrefetchPolicy): string {
  return "fixed" in policy ? String(policy.fixed) : `auto (window ${policy.windowMs} ms)`;
}
