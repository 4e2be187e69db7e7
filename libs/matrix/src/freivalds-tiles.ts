// The tile-by-tile Freivalds check: C_ij·r_j against Σ_k A_ik·(B_kj·r_j), one vector slice per
// output column block, so a failure names its tile. See freivalds.ts for the maths.
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
import { type FreivaldsSimd, freivaldsSimd } from "./freivalds-simd.js";

/**
 * Check of a block of output columns [j0, j1) for every row i in `rows`.
 * Y_k (t × W, W = J·rounds·width) holds B_kj·r and, in float mode, |B_kj|·|r| interleaved.
 */
export async function checkColumnChunk(
  s: Settings,
  rows: readonly number[],
  j0: number,
  j1: number,
  getTile: OutputTileSource,
  onTile: (i: number, j: number, reason: string | undefined) => void,
): Promise<void> {
  const { t, K, rounds, width } = s;
  const J = j1 - j0;
  const W = J * rounds * width;
  const R = exactVectorRange(t);
  const rs: Float64Array[] = []; // index (jj·rounds + ρ)
  for (let jj = 0; jj < J; jj++) {
    for (let rho = 0; rho < rounds; rho++) rs.push(randomSlice(s, rho, j0 + jj, R));
  }

  const simd = freivaldsSimd();
  const sums = rowSummer(s, rs, J, simd);
  const Y: Float64Array[] = [];
  for (let k = 0; k < K; k++) {
    const yk = new Float64Array(t * W);
    for (let jj = 0; jj < J; jj++) {
      const bs = sums(await inputTile(s, "B", k, j0 + jj), jj);
      for (let l = 0; l < t; l++) {
        for (let rho = 0; rho < rounds; rho++) {
          const at = l * W + (jj * rounds + rho) * width;
          yk[at] = bs[(l * rounds + rho) * 2]!;
          if (width === 2) yk[at + 1] = bs[(l * rounds + rho) * 2 + 1]!;
        }
      }
    }
    Y.push(yk);
  }

  const Z = new Float64Array(t * W);
  for (const i of rows) {
    // Output tiles are read one ahead, so storage reads overlap the arithmetic.
    let next = readOutputTile(getTile, i, j0);
    Z.fill(0);
    for (let k = 0; k < K; k++) {
      const a = await inputTile(s, "A", i, k);
      if (simd) simd.product(a, t, Y[k]!, W, Z, width === 2);
      else accumulateProduct(a, Y[k]!, Z, t, W, width === 2);
    }
    for (let jj = 0; jj < J; jj++) {
      const read = await next;
      if (jj + 1 < J) next = readOutputTile(getTile, i, j0 + jj + 1);
      const reason =
        "error" in read ? unreadableReason(read.error) : compareTile(s, read.tile, Z, W, jj, sums);
      onTile(i, j0 + jj, reason);
    }
  }
}

/**
 * The JavaScript loop (freivalds-simd.ts runs it faster, in the same order):
 * Z += A·Y (and |A|·Y_abs on the odd columns when `withAbs`), each Z element one dot product
 * over l in order (row p of A against column w of Y). Exact mode stays exact (integers < 2^53)
 * and float mode's tolerance covers any order of this check's own sums.
 */
export function accumulateProduct(
  a: Float32Array,
  Y: Float64Array,
  Z: Float64Array,
  t: number,
  W: number,
  withAbs: boolean,
): void {
  for (let p = 0; p < t; p++) {
    const zb = p * W;
    const ab = p * t;
    for (let w = 0; w < W; w++) {
      // Float mode's odd columns are the |·| half of (sum, |·|) pairs: |A| multiplies them.
      const abs = withAbs && (w & 1) === 1;
      let sum = 0;
      for (let l = 0, y = w; l < t; l++, y += W) {
        const av = a[ab + l]!;
        sum += (abs ? Math.abs(av) : av) * Y[y]!;
      }
      Z[zb + w] = Z[zb + w]! + sum;
    }
  }
}

/** Returns why tile jj of the chunk fails, or undefined when every round passes. */
function compareTile(
  s: Settings,
  c: Float32Array,
  Z: Float64Array,
  W: number,
  jj: number,
  sums: RowSummer,
): string | undefined {
  const { t, rounds, width } = s;
  const defect = outputTileDefect(s, c);
  if (defect !== undefined) return defect;
  const cs = sums(c, jj);
  for (let rho = 0; rho < rounds; rho++) {
    const col = (jj * rounds + rho) * width;
    for (let p = 0; p < t; p++) {
      const cr = cs[(p * rounds + rho) * 2]!;
      const expected = Z[p * W + col]!;
      if (s.exact) {
        if (cr !== expected) {
          return `round ${rho}: row ${p}: C·r = ${cr} but A·(B·r) = ${expected} (exact mode)`;
        }
      } else {
        const cabs = cs[(p * rounds + rho) * 2 + 1]!;
        const bound = Z[p * W + col + 1]!;
        const tol = s.relTol32 * bound + s.relTol64 * (bound + cabs);
        const diff = Math.abs(cr - expected);
        if (!(diff <= tol)) {
          return `round ${rho}: row ${p}: |C·r − A·(B·r)| = ${diff} exceeds tolerance ${tol}`;
        }
      }
    }
  }
  return undefined;
}

/**
 * Row sums of a tile against output column block jj's random slices, for every round:
 * out[(p·rounds + ρ)·2] = Σ_q x_pq·r_q and out[… + 1] = Σ_q |x_pq·r_q|, each summed over q in
 * order. The returned array is reused by the next call.
 */
type RowSummer = (tile: Float32Array, jj: number) => Float64Array;

function rowSummer(
  s: Settings,
  rs: readonly Float64Array[],
  J: number,
  simd: FreivaldsSimd | undefined,
): RowSummer {
  const { t, rounds } = s;
  const out = new Float64Array(t * rounds * 2);
  if (simd && rounds === 2) {
    // Both rounds in one pass: their slices interleaved, r0[q], r1[q].
    const pairs = Array.from({ length: J }, (_, jj) => interleave(rs.slice(2 * jj, 2 * jj + 2)));
    return (tile, jj) => {
      simd.sums2(tile, t, pairs[jj]!, out);
      return out;
    };
  }
  return (tile, jj) => {
    computeRowSums(tile, t, rs, jj, rounds, out);
    return out;
  };
}

/** The JavaScript loop behind RowSummer (freivalds-simd.ts runs two rounds at once). */
export function computeRowSums(
  tile: Float32Array,
  t: number,
  rs: readonly Float64Array[],
  jj: number,
  rounds: number,
  out: Float64Array,
): void {
  for (let rho = 0; rho < rounds; rho++) {
    const r = rs[jj * rounds + rho]!;
    for (let p = 0; p < t; p++) {
      const base = p * t;
      let sum = 0;
      let abs = 0;
      for (let q = 0; q < t; q++) {
        const prod = tile[base + q]! * r[q]!;
        sum += prod;
        abs += Math.abs(prod);
      }
      out[(p * rounds + rho) * 2] = sum;
      out[(p * rounds + rho) * 2 + 1] = abs;
    }
  }
}

/** Chunk width J so the K·t·W float64 scratch fits `maxScratchBytes` (at least one column). */
export function chunkColumns(s: Settings, maxScratchBytes: number): number {
  const perColumn = s.K * s.t * s.rounds * s.width * 8 + s.t * s.rounds * s.width * 8;
  return Math.max(1, Math.min(s.K, Math.floor(maxScratchBytes / perColumn)));
}
