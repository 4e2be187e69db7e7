import type { MatmulJobSpec } from "@tessera/matrix";
import { type WorkItemV1, workItemId } from "@tessera/protocol";

/** A valid first-attempt work item for map (i,j,k) or reduce (i,j) of `spec`. */
export function workItemFor(
  jobId: string,
  spec: MatmulJobSpec,
  kind: "map" | "reduce",
  i: number,
  j: number,
  k?: number,
): WorkItemV1 {
  const taskId = kind === "map" ? `m-${i}-${j}-${k}` : `r-${i}-${j}`;
  return {
    v: 1,
    itemId: workItemId(jobId, taskId, 1),
    jobId,
    taskId,
    attempt: 1,
    kind,
    job: spec,
    i,
    j,
    ...(kind === "map" ? { k } : {}),
    pool: "cpu",
    issuedAt: Date.now(),
  };
}
