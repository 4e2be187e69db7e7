import { MatrixError, MatrixErrorCode } from "./errors.js";
import { checkRowBlocks } from "./freivalds-rows.js";
import {
  exactVectorRange,
  type FreivaldsOptions,
  type OutputTileSource,
  settingsOf,
  type TileFailure,
  type VerifyJobResult,
  type VerifyTileResult,
} from "./freivalds-settings.js";
import { checkColumnChunk, chunkColumns } from "./freivalds-tiles.js";
import type { MatmulJobSpec } from "./spec.js";

export type {
  FreivaldsOptions,
  InputTileSource,
  OutputTileSource,
  TileFailure,
  VerifyJobResult,
  VerifyTileResult,
} from "./freivalds-settings.js";

/**
 * Freivalds verification of C = A·B without ever holding A, B or C whole.
 *
 * TILE CHECK (freivalds-tiles.ts). For output tile (i, j) and a random vector r_j (the j-th
 * slice of a random length-n vector r):
 *
 *     C_ij · r_j  =?  Σ_k A_ik · (B_kj · r_j)
 *
 * Both sides cost O(K·t²) instead of the O(K·t³) of recomputing the tile. `verifyJob` shares
 * y_kj = B_kj·r_j across all i and streams each A tile once per column chunk, so a whole job
 * generates each input tile about once (plus once per extra chunk when memory is capped).
 *
 * ROW-BLOCK CHECK (freivalds-rows.ts; exact mode, verifyJob's default there). For row block i
 * and the whole vector r:
 *
 *     Σ_j C_ij · r_j  =?  A_i · (B · r)
 *
 * B·r is computed once for the job, so a job costs ~3·n² multiply-adds per round instead of
 * ~(K + 2)·n²: 3 instead of 10 at n = 8192, t = 1024. A row block that fails is re-checked tile
 * by tile to name the wrong tiles; if no tile fails there (an unlucky tile-check vector), every
 * tile of the row block is reported, with the row check's reason.
 *
 * EXACT MODE — exact equality, and exact arithmetic. Inputs are integers with |a|, |b| ≤ m and
 * n·m² ≤ 2^24 − 1 (see `exactElementBound`). C is first range-checked: every element must be an
 * integer with |c| ≤ n·m², else the tile fails. r has non-zero integer entries in [−R, R],
 * R = floor(2^29 / t) for the tile check and floor(2^29 / n) for the row-block check, whose
 * sums run over n terms instead of t. Then every intermediate of both sides, computed in
 * float64, is an integer of magnitude ≤ t·(2^24 − 1)·R (row-block check: n·(2^24 − 1)·R)
 * ≤ 2^53 − 2^29, so float64 computes it exactly, and equality is decided without rounding.
 * Consequences:
 *   - a single wrong element δ ≠ 0 at (p, q) changes row p of C·r by δ·r_q ≠ 0: it is caught
 *     with certainty, in every round, whatever r is;
 *   - several wrong elements escape one round only if Σ δ_q·r_q = 0 for every affected row,
 *     probability ≤ 1/(2R) per round (at most one value of r_q solves it); `rounds` independent
 *     vectors (default 2) make that ≤ (2R)^−rounds: 2^−40 for the tile check at t = 1024,
 *     2^−34 for the row-block check at n = 8192 (R = 65,536). More `rounds` buy more.
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
  const check = options.check ?? (s.exact ? "rows" : "tiles");
  if (check !== "rows" && check !== "tiles") {
    throw new MatrixError(
      MatrixErrorCode.ArgumentInvalid,
      `check = ${String(check)}: must be "rows" or "tiles"`,
    );
  }
  if (check === "rows" && !s.exact) {
    throw new MatrixError(
      MatrixErrorCode.ArgumentInvalid,
      'check = "rows" needs exact mode: a float tolerance summed over whole rows would hide errors a tile check catches',
    );
  }
  const failures: TileFailure[] = [];
  let tilesChecked = 0;
  const onTile = (i: number, j: number, reason: string | undefined) => {
    tilesChecked++;
    if (reason !== undefined) failures.push({ i, j, reason });
  };
  let rows = Array.from({ length: s.K }, (_, i) => i);
  const rowReasons = new Map<number, string>();
  if (check === "rows") {
    const failed = await checkRowBlocks(s, getTile, onTile);
    for (const f of failed) if (f.sumsDiffer) rowReasons.set(f.i, f.reason);
    rows = failed.map((f) => f.i);
  }
  if (rows.length > 0) {
    const J = chunkColumns(s, options.maxScratchBytes ?? 64 * 1024 * 1024);
    const found = new Set<number>();
    for (let j0 = 0; j0 < s.K; j0 += J) {
      await checkColumnChunk(s, rows, j0, Math.min(s.K, j0 + J), getTile, (i, j, reason) => {
        if (reason !== undefined) found.add(i);
        onTile(i, j, reason);
      });
    }
    // A row block whose sums differed is wrong somewhere even if the tile check's vectors
    // missed it: fail all its tiles rather than pass a wrong output. (A row block failed for an
    // unreadable or out-of-range tile was never summed: the tile check re-reads and decides.)
    for (const [i, reason] of rowReasons) {
      if (found.has(i)) continue;
      for (let j = 0; j < s.K; j++) {
        failures.push({
          i,
          j,
          reason: `row block ${i} failed the whole-row check (${reason}); no single tile could be named`,
        });
      }
    }
  }
  failures.sort((x, y) => x.i - y.i || x.j - y.j);
  const R = exactVectorRange(check === "rows" ? s.K * s.t : s.t);
  return {
    verified: failures.length === 0 && tilesChecked === s.K * s.K,
    failures,
    tilesChecked,
    rounds: s.rounds,
    verifySeed: s.verifySeed,
    check,
    missProbabilityBound: s.exact ? (2 * R) ** -s.rounds : null,
  };
}
