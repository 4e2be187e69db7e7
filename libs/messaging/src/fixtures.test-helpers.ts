import { encodeWorkItem, type WorkItemV1, workSubject } from "@tessera/protocol";

/** A valid map work item for tests (job n=64, tile=16 → 4×4×4 tiles). */
export function workItem(index: number, pool = "cpu"): WorkItemV1 {
  const i = index % 4;
  const j = Math.floor(index / 4) % 4;
  const k = Math.floor(index / 16) % 4;
  const taskId = `m-${i}-${j}-${k}`;
  const jobId = `job-${Math.floor(index / 64)}`;
  return {
    v: 1,
    itemId: `${jobId}/${taskId}/1`,
    jobId,
    taskId,
    attempt: 1,
    kind: "map",
    job: { n: 64, tile: 16, mode: "exact", seed: 1 },
    i,
    j,
    k,
    pool,
    issuedAt: Date.now(),
  };
}

export const itemBytes = (index: number, pool = "cpu") => encodeWorkItem(workItem(index, pool));
export const mapSubject = (pool = "cpu") => workSubject(pool, "map");

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
