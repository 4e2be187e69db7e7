// The batched task path's grouping (services/scheduler/README.md): fresh starts of one job and
// one pool travel together, as one attempt-start-batch and then one WorkBatchV1, at most `max`
// per group. Pure: the shell decides which starts are batchable and proposes each group.

import type { MatmulJobSpec } from "@tessera/protocol";
import type { PrefetchPolicy } from "./prefetch.js";

/** Whether a job's fresh starts take the batched path: its tasks are known short (from the spec). */
export function travelsInBatches(spec: Pick<MatmulJobSpec, "mode">): boolean {
  return spec.mode === "empty";
}

/**
 * Batches' worth of starts a node may hold queued beyond its slots under `--prefetch auto`. A
 * batch is one message to its agent and its tasks take microseconds, so the one-task rule
 * (core/prefetch.ts: ≤ 32, from the tasks' run time) kept batches half full and the pipeline too
 * shallow to cover the control-plane round trip. Measured on 2 cores (`noop-tasks --tasks 10000
 * --chain 50`, fixed `--prefetch` N): 1,939 / 1,955 tasks/s under the one-task rule, 3,287 /
 * 3,230 with 128, 3,413 with 256, 3,894 with 512 per node; dispatch p50 13 → 24 → 40 → 69 ms.
 */
export const QUEUED_BATCHES_PER_NODE = 4;

/** Queued starts a node may hold beyond its slots for a batched job's tasks. */
export function batchedPrefetch(policy: PrefetchPolicy, batchMaxTasks: number): number {
  return "fixed" in policy ? policy.fixed : QUEUED_BATCHES_PER_NODE * batchMaxTasks;
}

export interface Batchable {
  readonly jobId: string;
  readonly pool: string;
}

/** Groups `starts` by (job, pool) in first-seen order, each group cut into chunks of ≤ `max`. */
export function groupIntoBatches<D extends Batchable>(starts: readonly D[], max: number): D[][] {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`max: ${max} must be an integer ≥ 1`);
  const open = new Map<string, D[]>();
  const out: D[][] = [];
  for (const d of starts) {
    const key = `${d.jobId}\u0000${d.pool}`;
    let group = open.get(key);
    if (!group) {
      group = [];
      open.set(key, group);
      out.push(group);
    }
    group.push(d);
    if (group.length === max) open.delete(key);
  }
  return out;
}
