import { GOLDEN, lowbias32, streamKey, triple32 } from "./counter-hash.js";
import { MatrixError, MatrixErrorCode } from "./errors.js";
import { ROW_CAPACITY, type SimdRows, simdRows } from "./generate-simd.js";
import type { InputMatrix } from "./keys.js";
import { exactElementBound, type MatmulJobSpec } from "./spec.js";

/**
 * Deterministic input data. Element (r, c) of matrix A or B (global coordinates) is a pure
 * function of (seed, matrix, r, c) and the mode/n bound — it does not depend on the tiling, so
 * a tile is just a window onto one fixed matrix and can be generated alone, anywhere.
 *
 * exact: integers uniform in [−m, m], m = exactElementBound(n) = floor(sqrt((2^24 − 1)/n)).
 * float: multiples of 2^−23 uniform in [−1, 1) (exactly representable in float32).
 */

// Domain separators: the version lives in the constant, so a future generator changes the data
// only by changing this number (and the dataset ids must then change too).
const DOMAIN_INPUT_V1 = 0x54534731; // "TSG1"
const MATRIX_ID: Record<InputMatrix, number> = { A: 0x41, B: 0x42 };

const TWO_POW_M32 = 2 ** -32;
const TWO_POW_M23 = 2 ** -23;

function checkTileCoords(spec: MatmulJobSpec, tileRow: number, tileCol: number): void {
  const K = spec.n / spec.tile;
  for (const [name, v] of [
    ["tileRow", tileRow],
    ["tileCol", tileCol],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v >= K) {
      throw new MatrixError(
        MatrixErrorCode.TaskOutOfRange,
        `${name} = ${v} is outside 0..${K - 1} (K = ${K})`,
      );
    }
  }
}

/**
 * Generates tile (tileRow, tileCol) of input `matrix` (A: (i, k); B: (k, j)) as a row-major
 * tile×tile Float32Array. Pass `out` to reuse a buffer (must hold tile² elements). Rows are made
 * by the WebAssembly SIMD generator where the runtime has one (generate-simd.ts), else by the
 * JavaScript loop: the same values either way.
 */
export function generateTile(
  spec: MatmulJobSpec,
  matrix: InputMatrix,
  tileRow: number,
  tileCol: number,
  out?: Float32Array,
): Float32Array {
  return generateTileWith(simdRows(), spec, matrix, tileRow, tileCol, out);
}

/**
 * generateTile with the given row generator; `undefined` runs the JavaScript loop (the reference
 * the SIMD rows are tested against).
 */
export function generateTileWith(
  simd: SimdRows | undefined,
  ...[spec, matrix, tileRow, tileCol, out]: Parameters<typeof generateTile>
): Float32Array {
  checkTileCoords(spec, tileRow, tileCol);
  const t = spec.tile;
  const size = t * t;
  if (out !== undefined && out.length !== size) {
    throw new MatrixError(
      MatrixErrorCode.ArgumentInvalid,
      `out has ${out.length} elements, tile needs ${size}`,
    );
  }
  const dst = out ?? new Float32Array(size);
  const matrixId = MATRIX_ID[matrix];
  const seed = spec.seed >>> 0;
  const row0 = tileRow * t;
  const col0 = tileCol * t;
  const exact = spec.mode === "exact";
  const m = exactElementBound(spec.n);
  // exact: floor(h · span / 2^32) maps a uint32 onto 0..span−1 with bias < span/2^32 (tiny), and
  // the product stays below 2^53 so the float64 multiply is exact.
  const scale = (2 * m + 1) * TWO_POW_M32;
  const rows = simd && t % 4 === 0 && t <= ROW_CAPACITY ? simd : undefined;
  const rowValues = rows?.row.subarray(0, t);
  for (let r = 0; r < t; r++) {
    const { k0, k1 } = streamKey(DOMAIN_INPUT_V1, seed, matrixId, row0 + r);
    const base = r * t;
    if (rows && rowValues) {
      if (exact) rows.exact(t, col0, k0, k1, scale, m);
      else rows.float(t, col0, k0, k1);
      dst.set(rowValues, base);
    } else if (exact) {
      for (let c = 0; c < t; c++) {
        const x = (Math.imul(col0 + c, GOLDEN) + k0) | 0;
        const h = triple32(lowbias32(x) ^ k1);
        dst[base + c] = Math.floor(h * scale) - m;
      }
    } else {
      for (let c = 0; c < t; c++) {
        const x = (Math.imul(col0 + c, GOLDEN) + k0) | 0;
        const h = triple32(lowbias32(x) ^ k1);
        dst[base + c] = (h >>> 8) * TWO_POW_M23 - 1;
      }
    }
  }
  return dst;
}

/** Input tile A(i, k). */
export function generateTileA(spec: MatmulJobSpec, i: number, k: number, out?: Float32Array) {
  return generateTile(spec, "A", i, k, out);
}

/** Input tile B(k, j). */
export function generateTileB(spec: MatmulJobSpec, k: number, j: number, out?: Float32Array) {
  return generateTile(spec, "B", k, j, out);
}

/** Largest n for which `generateMatrix` will materialise a whole input (256 MiB of float32). */
export const MAX_DENSE_N = 8192;

/**
 * The whole n×n input, row-major, assembled from the same element function as the tiles.
 * For tests and reference checks on small jobs only.
 */
export function generateMatrix(spec: MatmulJobSpec, matrix: InputMatrix): Float32Array {
  if (spec.n > MAX_DENSE_N) {
    throw new MatrixError(
      MatrixErrorCode.ArgumentInvalid,
      `n = ${spec.n} is too large to materialise (max ${MAX_DENSE_N}); generate tiles instead`,
    );
  }
  const { n, tile: t } = spec;
  const K = n / t;
  const full = new Float32Array(n * n);
  const buf = new Float32Array(t * t);
  for (let tr = 0; tr < K; tr++) {
    for (let tc = 0; tc < K; tc++) {
      generateTile(spec, matrix, tr, tc, buf);
      for (let r = 0; r < t; r++) {
        full.set(buf.subarray(r * t, r * t + t), (tr * t + r) * n + tc * t);
      }
    }
  }
  return full;
}
