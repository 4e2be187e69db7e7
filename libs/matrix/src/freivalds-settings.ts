// Settings, random vectors and input/output checks shared by the tile-by-tile and the
// row-block Freivalds checks (freivalds-tiles.ts, freivalds-rows.ts); the maths is in freivalds.ts.
import { randomBytes } from "node:crypto";
import { streamKey, streamWord } from "./counter-hash.js";
import { MatrixError, MatrixErrorCode } from "./errors.js";
import { freivaldsSimd } from "./freivalds-simd.js";
import { generateTileA, generateTileB } from "./generate.js";
import { exactElementBound, kPerMapOf, type MatmulJobSpec, validateJobSpec } from "./spec.js";

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
  /** Independent random vectors (rounds) per check, per tile or per row block (default 2). */
  readonly rounds?: number;
  /** Seed of the random vectors (uint32). Default: fresh from the OS, reported in the result. */
  readonly verifySeed?: number;
  /** Input tiles; default regenerates them deterministically from the spec. */
  readonly inputs?: InputTileSource;
  /** Float mode: multiplier on the rounding-error bound (default 2). */
  readonly toleranceFactor?: number;
  /** verifyJob: memory for the B·r vectors; columns are processed in chunks to fit (default 64 MiB). */
  readonly maxScratchBytes?: number;
  /**
   * verifyJob: "rows" checks each block of t rows of C as a whole and locates failures tile by
   * tile only in row blocks that fail (a third of the arithmetic); "tiles" checks every tile on
   * its own. Default: "rows" in exact mode, "tiles" in float mode (the only one it supports).
   */
  readonly check?: "rows" | "tiles";
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
  /** Which check decided the tiles that passed. */
  readonly check: "rows" | "tiles";
  /**
   * Exact mode: the most a wrong output can pass with, (2R)^−rounds (several wrong elements of
   * one row cancelling in every round; one wrong element is always caught). Null in float mode,
   * whose guarantee is a per-element threshold instead (see freivalds.ts).
   */
  readonly missProbabilityBound: number | null;
}

export interface VerifyTileResult {
  readonly verified: boolean;
  /** Why the tile failed; absent when verified. */
  readonly reason?: string;
  readonly rounds: number;
  readonly verifySeed: number;
}

export type OutputTileSource = (i: number, j: number) => Float32Array | Promise<Float32Array>;

export interface Settings {
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

export function settingsOf(specIn: MatmulJobSpec, options: FreivaldsOptions): Settings {
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

/**
 * Exact mode's largest |r| entry for sums of `terms` products: R·terms ≤ 2^29 keeps every sum
 * of the check below (2^24 − 1)·2^29 < 2^53, so float64 computes it exactly (freivalds.ts).
 */
export function exactVectorRange(terms: number): number {
  return Math.floor(2 ** 29 / terms);
}

/**
 * r_j for one round: the j-th t-long slice of one global random vector. Exact mode: non-zero
 * integers in [−R, R]; the caller picks R so its sums stay below 2^53 (see freivalds.ts).
 * Float mode: ±(1 + U[0,1)).
 */
export function randomSlice(s: Settings, round: number, j: number, R: number): Float64Array {
  const { k0, k1 } = streamKey(DOMAIN_VERIFY_V1, s.verifySeed, round, j);
  const r = new Float64Array(s.t);
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

/** Equal-length vectors interleaved: out[q·count + v] = vectors[v][q]. */
export function interleave(vectors: readonly Float64Array[]): Float64Array {
  const count = vectors.length;
  const length = vectors[0]?.length ?? 0;
  const out = new Float64Array(length * count);
  vectors.forEach((vec, v) => {
    for (let q = 0; q < length; q++) out[q * count + v] = vec[q]!;
  });
  return out;
}

/** Input tile A(r,c) or B(r,c), checked (checkInputTile) when the caller supplied the inputs. */
export async function inputTile(
  s: Settings,
  name: "A" | "B",
  r: number,
  c: number,
): Promise<Float32Array> {
  const tile = await (name === "A" ? s.inputs.tileA(r, c) : s.inputs.tileB(r, c));
  if (s.checkInputs) checkInputTile(s, name, r, c, tile);
  return tile;
}

/**
 * Supplied inputs must have the right size, and in exact mode be integers within ±m: the
 * exactness argument (everything < 2^53) rests on that bound, so a bad input is an error, not
 * a verdict on C.
 */
function checkInputTile(
  s: Settings,
  name: "A" | "B",
  r: number,
  c: number,
  tile: Float32Array,
): void {
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

/**
 * Why an output tile cannot be right before any arithmetic: wrong size, or an element that is
 * not an integer within ±cBound (exact) or not finite (float). Undefined when it may be right.
 */
export function outputTileDefect(s: Settings, c: Float32Array): string | undefined {
  const { t } = s;
  if (c.length !== t * t) return `output tile has ${c.length} elements, expected ${t * t}`;
  // The SIMD check clears a good tile ~10× faster; the loop below names the first bad element.
  if (s.exact && c.length % 4 === 0 && freivaldsSimd()?.inRange(c, s.cBound)) return undefined;
  for (let e = 0; e < c.length; e++) {
    const v = c[e]!;
    if (s.exact ? !(Math.trunc(v) === v && Math.abs(v) <= s.cBound) : !Number.isFinite(v)) {
      const what = s.exact ? `an integer within ±${s.cBound}` : "finite";
      return `element (${Math.floor(e / t)},${e % t}) = ${v} is not ${what}`;
    }
  }
  return undefined;
}

/** getTile(i, j) as a promise that never rejects (a read ahead may be left unawaited). */
export async function readOutputTile(
  getTile: OutputTileSource,
  i: number,
  j: number,
): Promise<{ tile: Float32Array } | { error: unknown }> {
  try {
    return { tile: await getTile(i, j) };
  } catch (error) {
    return { error };
  }
}

/** verifyJob reports an output tile it could not read with this reason prefix. */
export function unreadableReason(err: unknown): string {
  return `output tile could not be read: ${err instanceof Error ? err.message : String(err)}`;
}
