import { MatrixError, MatrixErrorCode } from "./errors.js";
import { generateMatrix, generateTileA, generateTileB } from "./generate.js";
import { kPerMapOf, type MatmulJobSpec } from "./spec.js";

/**
 * Straightforward GEMMs used as ground truth by tests and small checks. Deliberately plain
 * (i-k-j loops, no blocking): correctness, not speed, is their job.
 */

function checkSquare(name: string, m: ArrayLike<number>, size: number): void {
  if (m.length !== size * size) {
    throw new MatrixError(
      MatrixErrorCode.ArgumentInvalid,
      `${name} has ${m.length} elements, expected ${size}×${size}`,
    );
  }
}

/**
 * C = A·B for t×t row-major float32 tiles, accumulating in float32 in k order (each
 * `c += a·b` is one float32 rounding, like a fused multiply-add). This is a Map task.
 * With `accumulate` given, adds into it instead (C += A·B).
 */
export function tileGemm(
  a: Float32Array,
  b: Float32Array,
  t: number,
  accumulate?: Float32Array,
): Float32Array {
  checkSquare("a", a, t);
  checkSquare("b", b, t);
  const c = accumulate ?? new Float32Array(t * t);
  checkSquare("accumulate", c, t);
  for (let i = 0; i < t; i++) {
    const ci = i * t;
    for (let k = 0; k < t; k++) {
      const aik = a[i * t + k]!;
      if (aik === 0) continue;
      const bk = k * t;
      for (let j = 0; j < t; j++) c[ci + j] = c[ci + j]! + aik * b[bk + j]!;
    }
  }
  return c;
}

/** C = A·B for n×n row-major matrices with float64 accumulation (exact for exact-mode inputs). */
export function referenceGemm(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  checkSquare("a", a, n);
  checkSquare("b", b, n);
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ci = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) c[ci + j]! += aik * b[bk + j]!;
    }
  }
  return c;
}

/** The whole product of a (small) job's generated inputs, float64-accumulated. */
export function referenceProduct(spec: MatmulJobSpec): Float64Array {
  return referenceGemm(generateMatrix(spec, "A"), generateMatrix(spec, "B"), spec.n);
}

/**
 * Output tile C(i, j) computed the way the job structures it: Map partials
 * P_g = Σ A(i,k)·B(k,j) over the spec's kPerMap inner tiles of group g, in float32, then Reduce
 * C = Σ_g P_g in float32 in order g = 0, 1, … (exact mode: bit for bit what agents store).
 */
export function referenceOutputTile(spec: MatmulJobSpec, i: number, j: number): Float32Array {
  const t = spec.tile;
  const K = spec.n / t;
  const d = kPerMapOf(spec);
  const c = new Float32Array(t * t);
  const a = new Float32Array(t * t);
  const b = new Float32Array(t * t);
  const partial = new Float32Array(t * t);
  for (let g = 0; g < K / d; g++) {
    partial.fill(0);
    for (let k = g * d; k < (g + 1) * d; k++) {
      tileGemm(generateTileA(spec, i, k, a), generateTileB(spec, k, j, b), t, partial);
    }
    for (let e = 0; e < c.length; e++) c[e] = c[e]! + partial[e]!;
  }
  return c;
}
