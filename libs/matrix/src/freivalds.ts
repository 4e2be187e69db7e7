import { randomBytes } from "node:crypto";
import { streamKey, streamWord } from "./counter-hash.js";
import { MatrixError, MatrixErrorCode } from "./errors.js";
import { generateTileA, generateTileB } from "./generate.js";
import { exactElementBound, kPerMapOf, type MatmulJobSpec, validateJobSpec } from "./spec.js";

/**
 * Freivalds verification of C = A·B, tile by tile, without ever holding A, B or C whole.
 *
 * For output tile (i, j) and a random vector r_j (the j-th slice of a random length-n vector r):
 *
 *     C_ij · r_j  =?  Σ_k A_ik · (B_kj · r_j)
 *
 * Both sides cost O(K·t²) instead of the O(K·t³) of recomputing the tile. `verifyJob` shares
 * y_kj = B_kj·r_j across all i and streams each A tile once per column chunk, so a whole job
 * generates each input tile about once (plus once per extra chunk when memory is capped).
 *
 * EXACT MODE — exact equality, and exact arithmetic. Inputs are integers with |a|, |b| ≤ m and
 * n·m² ≤ 2^24 − 1 (see `exactElementBound`). C is first range-checked: every element must be an
 * integer with |c| ≤ n·m², else the tile fails. r has non-zero integer entries in [−R, R],
 * R = floor(2^29 / t). Then every intermediate of both sides, computed in float64, is an
 * integer of magnitude ≤ t·(2^24 − 1)·R < 2^53, so float64 computes it exactly, and equality
 * is decided without rounding. Consequences:
 *   - a single wrong element δ ≠ 0 at (p, q) changes row p of C·r by δ·r_q ≠ 0: it is caught
 *     with certainty, in every round, whatever r is;
 *   - several wrong elements escape one round only if Σ δ_q·r_q = 0 for every affected row,
 *     probability ≤ 1/(2R) per round (at most one value of r_q solves it); `rounds` independent
 *     vectors (default 2) make that ≤ (2R)^−rounds.
 *
 * FLOAT MODE — tolerance from rounding-error analysis. Each element of C is a map GEMM of
 * L = kPerMap·t products (any order; L = t by default) followed by a G = K/kPerMap-term reduce,
 * both in float32, so
 *   |C_pq − (AB)_pq| ≤ γ₃₂(L + G − 1) · (|A||B|)_pq,   γ(k) = k·u/(1 − k·u), u = 2^−24
 * (Higham, Accuracy and Stability of Numerical Algorithms, §3.1 — holds for every summation
 * order, and for FMA). Row p of the check therefore passes when
 *   |(C·r)_p − (A·(B·r))_p| ≤ c·γ₃₂(t + K − 1)·(|A|(|B||r|))_p + γ₆₄(2t + K)·((|A|(|B||r|))_p + (|C||r|)_p)
 * with c = `toleranceFactor` (default 2, margin only) and the second term covering this check's
 * own float64 rounding. r_q = ±(1 + U[0,1)), so a single element changed by δ with
 * |δ| > 2·tol_p is always caught. The bound assumes IEEE float32 GEMM (no TF32/fp16 inputs).
 * Non-finite values fail.
 */

const DOMAIN_VERIFY_V1 = 0x54535631; // "TSV1"
const TWO_POW_M53 = 2 ** -53;
const U32 = 2 ** -24;
const U64 = 2 ** -53;

function gamma(k: number, u: number): number {
  return (k * u) / (1 - k * u);
}

/** Where Freivalds reads A and B tiles from; defaults to regenerating them from the spec. */
export interface InputTileSource {
  tileA(i: number, k: number): Float32Array | Promise<Float32Array>;
  tileB(k: number, j: number): Float32Array | Promise<Float32Array>;
}

export interface FreivaldsOptions {
  /** Independent random vectors per tile (default 2). */
  readonly rounds?: number;
  /** Seed of the random vectors (uint32). Default: fresh from the OS, reported in the result. */
  readonly verifySeed?: number;
  /** Input tiles; default regenerates them deterministically from the spec. */
  readonly inputs?: InputTileSource;
  /** Float mode: multiplier on the rounding-error bound (default 2). */
  readonly toleranceFactor?: number;
  /** verifyJob: memory for the B·r vectors; columns are processed in chunks to fit (default 64 MiB). */
  readonly maxScratchBytes?: number;
}

export interface TileFailure {
  readonly i: number;
  readonly j: number;
  readonly reason: string;
}

export interface VerifyJobResult {
  readonly verified: boolean;
  readonly failures: TileFailure[];
  /** Output tiles examined (K² for a complete job). */
  readonly tilesChecked: number;
  readonly rounds: number;
  readonly verifySeed: number;
}

export interface VerifyTileResult {
  readonly verified: boolean;
  /** Why the tile failed; absent when verified. */
  readonly reason?: string;
  readonly rounds: number;
  readonly verifySeed: number;
}

export type OutputTileSource = (i: number, j: number) => Float32Array | Promise<Float32Array>;

interface Settings {
  readonly spec: MatmulJobSpec;
  readonly K: number;
  readonly t: number;
  readonly exact: boolean;
  readonly rounds: number;
  readonly verifySeed: number;
  readonly inputs: InputTileSource;
  /** Inputs come from a caller (storage): checked for size and, in exact mode, range. */
  readonly checkInputs: boolean;
  /** float: c·γ₃₂(L+G−1), L = kPerMap·t products per map, G = K/kPerMap partials */
  readonly relTol32: number;
  /** float: γ₆₄(2t+K) */
  readonly relTol64: number;
  /** exact: largest |a|, |b| of an input (m). */
  readonly m: number;
  /** exact: largest |c| a correct output can have (n·m²). */
  readonly cBound: number;
  /** Columns per (round, j): 1 (exact) or 2 (float: signed, absolute). */
  readonly width: number;
}

function settingsOf(specIn: MatmulJobSpec, options: FreivaldsOptions): Settings {
  const spec = validateJobSpec(specIn);
  const rounds = options.rounds ?? 2;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 64) {
    throw new MatrixError(MatrixErrorCode.ArgumentInvalid, `rounds = ${rounds}: must be 1..64`);
  }
  const verifySeed = options.verifySeed ?? randomBytes(4).readUInt32LE(0);
  if (!Number.isInteger(verifySeed) || verifySeed < 0 || verifySeed > 0xffff_ffff) {
    throw new MatrixError(
      MatrixErrorCode.ArgumentInvalid,
      `verifySeed = ${verifySeed}: must be a uint32`,
    );
  }
  const factor = options.toleranceFactor ?? 2;
  if (!(factor >= 1 && Number.isFinite(factor))) {
    throw new MatrixError(
      MatrixErrorCode.ArgumentInvalid,
      `toleranceFactor = ${factor}: must be ≥ 1`,
    );
  }
  const t = spec.tile;
  const K = spec.n / t;
  const d = kPerMapOf(spec);
  const m = exactElementBound(spec.n);
  const exact = spec.mode === "exact";
  return {
    spec,
    K,
    t,
    exact,
    rounds,
    verifySeed,
    inputs: options.inputs ?? regeneratedInputs(spec),
    // Regenerated tiles are in range by construction (the generator's own tests pin that).
    checkInputs: options.inputs !== undefined,
    relTol32: factor * gamma(d * t + K / d - 1, U32),
    relTol64: gamma(2 * t + K, U64),
    m,
    cBound: spec.n * m * m,
    width: exact ? 1 : 2,
  };
}

/**
 * Inputs regenerated from the spec, each kind into one buffer reused for every tile: a fresh
 * multi-MiB array per tile costs about as much in page faults as generating it. Safe because
 * checkColumnChunk is done with each tile before it asks for the next of its kind.
 */
function regeneratedInputs(spec: MatmulJobSpec): InputTileSource {
  const a = new Float32Array(spec.tile * spec.tile);
  const b = new Float32Array(spec.tile * spec.tile);
  return {
    tileA: (i, k) => generateTileA(spec, i, k, a),
    tileB: (k, j) => generateTileB(spec, k, j, b),
  };
}

/** r_j for one round: entries as documented above (a slice of one global random vector). */
function randomSlice(s: Settings, round: number, j: number): Float64Array {
  const { k0, k1 } = streamKey(DOMAIN_VERIFY_V1, s.verifySeed, round, j);
  const r = new Float64Array(s.t);
  // Exact: R·t ≤ 2^29, so |C·r| rows stay < 2^53 (see header comment).
  const R = Math.floor(2 ** 29 / s.t);
  for (let q = 0; q < s.t; q++) {
    const hi = streamWord(k0, k1, 2 * q);
    const lo = streamWord(k0, k1, 2 * q + 1);
    const u = ((hi >>> 5) * 2 ** 27 + (lo >>> 6)) * TWO_POW_M53; // uniform [0, 1), 53 bits
    if (s.exact) {
      const v = Math.floor(u * 2 * R) - R; // −R..R−1
      r[q] = v >= 0 ? v + 1 : v; // −R..−1, 1..R: never zero
    } else {
      const sign = lo & 1 ? -1 : 1;
      r[q] = sign * (1 + u);
    }
  }
  return r;
}

/**
 * Check of a block of output columns [j0, j1) for every row i in `rows`.
 * Y_k (t × W, W = J·rounds·width) holds B_kj·r and, in float mode, |B_kj|·|r| interleaved.
 */
async function checkColumnChunk(
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
  const rs: Float64Array[] = []; // index (jj·rounds + ρ)
  for (let jj = 0; jj < J; jj++) {
    for (let rho = 0; rho < rounds; rho++) rs.push(randomSlice(s, rho, j0 + jj));
  }

  const Y: Float64Array[] = [];
  for (let k = 0; k < K; k++) {
    const yk = new Float64Array(t * W);
    for (let jj = 0; jj < J; jj++) {
      const b = await s.inputs.tileB(k, j0 + jj);
      if (s.checkInputs) checkInputTile(s, "B", k, j0 + jj, b);
      for (let rho = 0; rho < rounds; rho++) {
        const r = rs[jj * rounds + rho]!;
        const col = (jj * rounds + rho) * width;
        for (let l = 0; l < t; l++) {
          const bl = l * t;
          let sum = 0;
          if (width === 1) {
            for (let q = 0; q < t; q++) sum += b[bl + q]! * r[q]!;
            yk[l * W + col] = sum;
            continue;
          }
          let abs = 0;
          for (let q = 0; q < t; q++) {
            const bv = b[bl + q]!;
            const rv = r[q]!;
            sum += bv * rv;
            abs += Math.abs(bv * rv);
          }
          yk[l * W + col] = sum;
          yk[l * W + col + 1] = abs;
        }
      }
    }
    Y.push(yk);
  }

  const Z = new Float64Array(t * W);
  for (const i of rows) {
    Z.fill(0);
    for (let k = 0; k < K; k++) {
      const a = await s.inputs.tileA(i, k);
      if (s.checkInputs) checkInputTile(s, "A", i, k, a);
      accumulateProduct(a, Y[k]!, Z, t, W, width === 2);
    }
    for (let jj = 0; jj < J; jj++) {
      const j = j0 + jj;
      let reason: string | undefined;
      try {
        const c = await getTile(i, j);
        reason = compareTile(s, c, Z, W, jj, rs);
      } catch (err) {
        reason = `output tile could not be read: ${err instanceof Error ? err.message : String(err)}`;
      }
      onTile(i, j, reason);
    }
  }
}

/**
 * Z += A·Y (and |A|·Y_abs on the odd columns when `withAbs`). Each Z element is one dot product
 * over l kept in a register (row p of A against column w of Y), not W loads and stores of Z per
 * element of A. Float64 order differs from a row-update loop; exact mode stays exact (integers
 * < 2^53) and float mode's tolerance covers any order of this check's own sums.
 */
function accumulateProduct(
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
    // Two specialised loops on purpose: one loop choosing |a| per element (a loop-invariant
    // branch V8 does not hoist) made this function 1.3-1.7x slower in exact mode.
    if (withAbs) {
      // (sum, |·|) column pairs, two pairs per pass over the row when there are two.
      let w = 0;
      for (; w + 4 <= W; w += 4) {
        let s0 = 0;
        let a0 = 0;
        let s1 = 0;
        let a1 = 0;
        for (let l = 0, y = w; l < t; l++, y += W) {
          const av = a[ab + l]!;
          const aa = Math.abs(av);
          s0 += av * Y[y]!;
          a0 += aa * Y[y + 1]!;
          s1 += av * Y[y + 2]!;
          a1 += aa * Y[y + 3]!;
        }
        Z[zb + w] = Z[zb + w]! + s0;
        Z[zb + w + 1] = Z[zb + w + 1]! + a0;
        Z[zb + w + 2] = Z[zb + w + 2]! + s1;
        Z[zb + w + 3] = Z[zb + w + 3]! + a1;
      }
      for (; w < W; w += 2) {
        let sum = 0;
        let abs = 0;
        for (let l = 0, y = w; l < t; l++, y += W) {
          const av = a[ab + l]!;
          sum += av * Y[y]!;
          abs += Math.abs(av) * Y[y + 1]!;
        }
        Z[zb + w] = Z[zb + w]! + sum;
        Z[zb + w + 1] = Z[zb + w + 1]! + abs;
      }
    } else {
      // Four columns per pass over the row: four loads of A's row fewer per element of Z.
      let w = 0;
      for (; w + 4 <= W; w += 4) {
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let l = 0, y = w; l < t; l++, y += W) {
          const av = a[ab + l]!;
          s0 += av * Y[y]!;
          s1 += av * Y[y + 1]!;
          s2 += av * Y[y + 2]!;
          s3 += av * Y[y + 3]!;
        }
        Z[zb + w] = Z[zb + w]! + s0;
        Z[zb + w + 1] = Z[zb + w + 1]! + s1;
        Z[zb + w + 2] = Z[zb + w + 2]! + s2;
        Z[zb + w + 3] = Z[zb + w + 3]! + s3;
      }
      for (; w < W; w++) {
        let sum = 0;
        for (let l = 0, y = w; l < t; l++, y += W) sum += a[ab + l]! * Y[y]!;
        Z[zb + w] = Z[zb + w]! + sum;
      }
    }
  }
}

/**
 * Supplied inputs must have the right size, and in exact mode be integers within ±m: the
 * exactness argument (everything < 2^53) rests on that bound, so a bad input is an error, not
 * a verdict on C.
 */
function checkInputTile(s: Settings, name: string, r: number, c: number, tile: Float32Array): void {
  const size = s.t * s.t;
  if (tile.length !== size) {
    throw new MatrixError(
      MatrixErrorCode.ArgumentInvalid,
      `input tile ${name}(${r},${c}) has ${tile.length} elements, expected ${size}`,
    );
  }
  if (!s.exact) return;
  for (let e = 0; e < size; e++) {
    const v = tile[e]!;
    if (!(Math.trunc(v) === v && Math.abs(v) <= s.m)) {
      throw new MatrixError(
        MatrixErrorCode.ArgumentInvalid,
        `input tile ${name}(${r},${c}) element ${e} = ${v} is not an integer within ±${s.m}`,
      );
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
  rs: readonly Float64Array[],
): string | undefined {
  const { t, rounds, width } = s;
  if (c.length !== t * t) return `output tile has ${c.length} elements, expected ${t * t}`;
  for (let e = 0; e < c.length; e++) {
    const v = c[e]!;
    if (s.exact ? !(Math.trunc(v) === v && Math.abs(v) <= s.cBound) : !Number.isFinite(v)) {
      const what = s.exact ? `an integer within ±${s.cBound}` : "finite";
      return `element (${Math.floor(e / t)},${e % t}) = ${v} is not ${what}`;
    }
  }
  for (let rho = 0; rho < rounds; rho++) {
    const r = rs[jj * rounds + rho]!;
    const col = (jj * rounds + rho) * width;
    for (let p = 0; p < t; p++) {
      const cb = p * t;
      let cr = 0;
      let cabs = 0;
      for (let q = 0; q < t; q++) {
        const prod = c[cb + q]! * r[q]!;
        cr += prod;
        cabs += Math.abs(prod);
      }
      const expected = Z[p * W + col]!;
      if (s.exact) {
        if (cr !== expected) {
          return `round ${rho}: row ${p}: C·r = ${cr} but A·(B·r) = ${expected} (exact mode)`;
        }
      } else {
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

/** Chunk width J so the K·t·W float64 scratch fits `maxScratchBytes` (at least one column). */
function chunkColumns(s: Settings, maxScratchBytes: number): number {
  const perColumn = s.K * s.t * s.rounds * s.width * 8 + s.t * s.rounds * s.width * 8;
  return Math.max(1, Math.min(s.K, Math.floor(maxScratchBytes / perColumn)));
}

/**
 * Verifies one output tile C(i, j) against regenerated (or supplied) inputs.
 * Costs 2K input tiles and O(K·t²) arithmetic.
 */
export async function verifyTile(
  spec: MatmulJobSpec,
  i: number,
  j: number,
  c: Float32Array,
  options: FreivaldsOptions = {},
): Promise<VerifyTileResult> {
  const s = settingsOf(spec, options);
  for (const [name, v] of [
    ["i", i],
    ["j", j],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v >= s.K) {
      throw new MatrixError(
        MatrixErrorCode.TaskOutOfRange,
        `${name} = ${v} is outside 0..${s.K - 1}`,
      );
    }
  }
  let reason: string | undefined;
  await checkColumnChunk(
    s,
    [i],
    j,
    j + 1,
    () => c,
    (_i, _j, r) => {
      reason = r;
    },
  );
  const base = { verified: reason === undefined, rounds: s.rounds, verifySeed: s.verifySeed };
  return reason === undefined ? base : { ...base, reason };
}

/**
 * Verifies every output tile of a job. `getTile(i, j)` returns C(i, j) (row-major t×t); a tile
 * it cannot produce (throws/rejects) is reported as a failure, not thrown; an input tile that
 * cannot be read or is out of range rejects the whole call. Holds at most
 * `maxScratchBytes` of vectors plus one tile of each kind at a time.
 */
export async function verifyJob(
  spec: MatmulJobSpec,
  getTile: OutputTileSource,
  options: FreivaldsOptions = {},
): Promise<VerifyJobResult> {
  const s = settingsOf(spec, options);
  const J = chunkColumns(s, options.maxScratchBytes ?? 64 * 1024 * 1024);
  const rows = Array.from({ length: s.K }, (_, i) => i);
  const failures: TileFailure[] = [];
  let tilesChecked = 0;
  for (let j0 = 0; j0 < s.K; j0 += J) {
    await checkColumnChunk(s, rows, j0, Math.min(s.K, j0 + J), getTile, (i, j, reason) => {
      tilesChecked++;
      if (reason !== undefined) failures.push({ i, j, reason });
    });
  }
  failures.sort((x, y) => x.i - y.i || x.j - y.j);
  return {
    verified: failures.length === 0 && tilesChecked === s.K * s.K,
    failures,
    tilesChecked,
    rounds: s.rounds,
    verifySeed: s.verifySeed,
  };
}
