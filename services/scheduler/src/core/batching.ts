// The batched task path's grouping (services/scheduler/README.md): fresh starts of one job and
// one pool travel together, as one attempt-start-batch and then one WorkBatchV1, at most `max`
// per group. Pure: the shell decides which starts are batchable and proposes each group.

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
