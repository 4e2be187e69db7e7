// The row-block Freivalds check of exact mode: each block of t rows of C is checked as a whole,
// (C·r)_i = Σ_j C_ij·r_j against A_i·(B·r) for one n-long vector r per round. It costs a third
// of the tile-by-tile check's arithmetic (B·r is shared by every row block and A_i·(B·r) is one
// vector per round instead of one per output column block) but cannot say which tile of a
// failing row block is wrong: verifyJob re-checks those row blocks tile by tile. The maths and
// the exactness argument are in freivalds.ts.
import {
  exactVectorRange,
  inputTile,
  interleave,
  type OutputTileSource,
  outputTileDefect,
  randomSlice,
  readOutputTile,
  type Settings,
  unreadableReason,
} from "./freivalds-settings.js";
import { freivaldsSimd } from "./freivalds-simd.js";

/** A row block the whole-row check failed, and the first reason it saw. */
export interface FailedRowBlock {
  readonly i: number;
  readonly reason: string;
  /**
   * True when the sums differ (the row block is wrong); false when a tile could not be read or
   * failed the range check, so the sums were never compared and the tile check decides alone.
   */
  readonly sumsDiffer: boolean;
}

/**
 * Checks every row block of C. Calls `onTile(i, j, undefined)` for each tile of a row block that
 * passes and returns the row blocks that did not (wrong sums, or a tile that is unreadable or out
 * of range), for the caller to locate tile by tile. Exact mode only.
 */
export async function checkRowBlocks(
  s: Settings,
  getTile: OutputTileSource,
  onTile: (i: number, j: number, reason: undefined) => void,
): Promise<FailedRowBlock[]> {
  const { t, K, rounds } = s;
  const n = K * t;
  const simd = rounds === 2 && t % 4 === 0 ? freivaldsSimd() : undefined;
  const dots = (tile: Float32Array, v: Float64Array, out: Float64Array) =>
    simd ? simd.dots2(tile, t, v, out) : accumulateRowDots(tile, t, v, out, rounds);
  const R = exactVectorRange(n); // sums run over n terms here, not t

  // r_j for all rounds, interleaved: r[j][q·rounds + ρ].
  const r = Array.from({ length: K }, (_, j) =>
    interleave(Array.from({ length: rounds }, (_, rho) => randomSlice(s, rho, j, R))),
  );

  // Y = B·r (n × rounds): each B tile is read once for the whole job.
  const Y = new Float64Array(n * rounds);
  for (let k = 0; k < K; k++) {
    const yk = Y.subarray(k * t * rounds, (k + 1) * t * rounds);
    for (let j = 0; j < K; j++) {
      dots(await inputTile(s, "B", k, j), r[j]!, yk);
    }
  }

  const failed: FailedRowBlock[] = [];
  const Z = new Float64Array(t * rounds);
  const CR = new Float64Array(t * rounds);
  for (let i = 0; i < K; i++) {
    // Output tiles are read one ahead, so storage reads overlap the arithmetic.
    let next = readOutputTile(getTile, i, 0);
    Z.fill(0);
    for (let k = 0; k < K; k++) {
      dots(await inputTile(s, "A", i, k), Y.subarray(k * t * rounds, (k + 1) * t * rounds), Z);
    }
    CR.fill(0);
    let reason: string | undefined;
    for (let j = 0; j < K && reason === undefined; j++) {
      const read = await next;
      if (j + 1 < K) next = readOutputTile(getTile, i, j + 1);
      if ("error" in read) {
        reason = `tile (${i},${j}): ${unreadableReason(read.error)}`;
        continue;
      }
      reason = outputTileDefect(s, read.tile);
      if (reason === undefined) dots(read.tile, r[j]!, CR);
      else reason = `tile (${i},${j}): ${reason}`;
    }
    if (reason !== undefined) {
      failed.push({ i, reason, sumsDiffer: false });
      continue;
    }
    const mismatch = firstMismatch(Z, CR, rounds);
    if (mismatch === undefined) {
      for (let j = 0; j < K; j++) onTile(i, j, undefined);
    } else {
      failed.push({ i, reason: mismatch, sumsDiffer: true });
    }
  }
  return failed;
}

/** Why C·r and A·(B·r) differ for a row block, or undefined when they are equal. */
function firstMismatch(Z: Float64Array, CR: Float64Array, rounds: number): string | undefined {
  for (let e = 0; e < Z.length; e++) {
    if (Z[e] !== CR[e]) {
      const p = Math.floor(e / rounds);
      return `round ${e % rounds}: row ${p}: C·r = ${CR[e]} but A·(B·r) = ${Z[e]} (exact mode, whole-row check)`;
    }
  }
  return undefined;
}

/**
 * The JavaScript loop (freivalds-simd.ts runs the default two rounds faster):
 * out[p·ρ + ρi] += Σ_q tile[p·t + q] · v[q·ρ + ρi] for every row p of a t×t tile: the tile's rows
 * against `rounds` interleaved vectors. Exact mode's integers stay exact in any order.
 */
export function accumulateRowDots(
  tile: Float32Array,
  t: number,
  v: Float64Array,
  out: Float64Array,
  rounds: number,
): void {
  for (let p = 0; p < t; p++) {
    const base = p * t;
    for (let rho = 0; rho < rounds; rho++) {
      let sum = 0;
      for (let q = 0, w = rho; q < t; q++, w += rounds) sum += tile[base + q]! * v[w]!;
      out[p * rounds + rho] = out[p * rounds + rho]! + sum;
    }
  }
}
