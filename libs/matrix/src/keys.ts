import { MatrixError, MatrixErrorCode } from "./errors.js";
import { type MatmulJobSpec, partialsPerReduce } from "./spec.js";

/**
 * Storage keys (contracts.md). Inputs depend only on the spec, never on the job id, so two jobs
 * over the same data share input tiles; partials and outputs live under the job. Every key's
 * content is a pure function of the key, which is what makes writes idempotent.
 */

export type InputMatrix = "A" | "B";

const JOB_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Throws unless `jobId` is 1..64 chars of [A-Za-z0-9._-] and not a path segment like "..". */
export function assertJobId(jobId: string): void {
  if (typeof jobId !== "string" || !JOB_ID.test(jobId) || jobId === "." || jobId === "..") {
    throw new MatrixError(
      MatrixErrorCode.JobIdInvalid,
      `job id ${JSON.stringify(jobId)}: must be 1..64 characters of [A-Za-z0-9._-] and not "." or ".."`,
    );
  }
}

/**
 * What an "empty" task reports as its output: nothing stored, so no object behind the URI (the
 * `empty:` scheme says so), zero bytes, and the CRC32C of zero bytes. The manifest records it
 * like any output and refuses it for a job that computes (and any other output for an empty job).
 */
export const EMPTY_OUTPUT_SCHEME = "empty:";
export function emptyOutput(key: string): { uri: string; checksum: string; bytes: number } {
  return { uri: `${EMPTY_OUTPUT_SCHEME}${key}`, checksum: "00000000", bytes: 0 };
}

/** `mm-${mode}-n${n}-t${tile}-s${seed}` */
export function datasetId(spec: MatmulJobSpec): string {
  return `mm-${spec.mode}-n${spec.n}-t${spec.tile}-s${spec.seed}`;
}

/** `datasets/${datasetId}/A/${i}-${k}.tile` */
export function inputKeyA(spec: MatmulJobSpec, i: number, k: number): string {
  return `datasets/${datasetId(spec)}/A/${i}-${k}.tile`;
}

/** `datasets/${datasetId}/B/${k}-${j}.tile` */
export function inputKeyB(spec: MatmulJobSpec, k: number, j: number): string {
  return `datasets/${datasetId(spec)}/B/${k}-${j}.tile`;
}

/** Key of input tile (row, col) of matrix A or B (A: row = i, col = k; B: row = k, col = j). */
export function inputKey(
  spec: MatmulJobSpec,
  matrix: InputMatrix,
  row: number,
  col: number,
): string {
  return `datasets/${datasetId(spec)}/${matrix}/${row}-${col}.tile`;
}

/** `jobs/${jobId}/partials/${i}-${j}-${k}.tile` */
export function partialKey(jobId: string, i: number, j: number, k: number): string {
  assertJobId(jobId);
  return `jobs/${jobId}/partials/${i}-${j}-${k}.tile`;
}

/** `jobs/${jobId}/C/${i}-${j}.tile` */
export function outputKey(jobId: string, i: number, j: number): string {
  assertJobId(jobId);
  return `jobs/${jobId}/C/${i}-${j}.tile`;
}

/** The K / kPerMap partial keys reduce (i, j) reads, in summation order k = 0, 1, …. */
export function partialKeysOfReduce(
  jobId: string,
  spec: MatmulJobSpec,
  i: number,
  j: number,
): string[] {
  assertJobId(jobId);
  const G = partialsPerReduce(spec);
  const keys = new Array<string>(G);
  for (let k = 0; k < G; k++) keys[k] = `jobs/${jobId}/partials/${i}-${j}-${k}.tile`;
  return keys;
}
