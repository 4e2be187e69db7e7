import { describe, expect, it } from "vitest";
import { MatrixErrorCode } from "./errors.js";
import { verifyJob, verifyTile } from "./freivalds.js";
import { generateTileA, generateTileB } from "./generate.js";
import { referenceOutputTile } from "./reference-gemm.js";
import type { MatmulJobSpec } from "./spec.js";
import { decodeTile, encodeTile } from "./tile-format.js";

/** All output tiles of a small job, computed the way agents do (float32 maps + ordered reduce). */
function computeJob(spec: MatmulJobSpec): Float32Array[][] {
  const K = spec.n / spec.tile;
  return Array.from({ length: K }, (_, i) =>
    Array.from({ length: K }, (_, j) => referenceOutputTile(spec, i, j)),
  );
}

/** Deterministic test RNG (mulberry32), so a failing position can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

const exact: MatmulJobSpec = { n: 64, tile: 16, mode: "exact", seed: 21 };
const float: MatmulJobSpec = { n: 32, tile: 16, mode: "float", seed: 21 };
const exactC = computeJob(exact);
const floatC = computeJob(float);

describe("verifyJob", () => {
  it("accepts a correct exact-mode job and reports what it checked", async () => {
    const result = await verifyJob(exact, (i, j) => exactC[i]![j]!, { verifySeed: 1 });
    expect(result).toEqual({
      verified: true,
      failures: [],
      tilesChecked: 16,
      rounds: 2,
      verifySeed: 1,
      check: "rows",
      // R = floor(2^29 / n) = 2^23 for the row check at n = 64: (2R)^−2
      missProbabilityBound: 2 ** -48,
    });
    const tiles = await verifyJob(exact, (i, j) => exactC[i]![j]!, { check: "tiles", rounds: 3 });
    // R = floor(2^29 / t) = 2^25 at t = 16: (2R)^−3
    expect(tiles).toMatchObject({ verified: true, check: "tiles", missProbabilityBound: 2 ** -78 });
    const random = await verifyJob(exact, async (i, j) => exactC[i]![j]!);
    expect(random.verified).toBe(true);
    expect(Number.isInteger(random.verifySeed)).toBe(true);
  });

  it("accepts a correct float-mode job, whatever the summation order", async () => {
    // Same tiles, but each element summed in float64 and rounded once: a different (better)
    // order than the agents'; both lie within the documented bound.
    const K = 2;
    const alt = Array.from({ length: K }, (_, i) =>
      Array.from({ length: K }, (_, j) => {
        const out = new Float32Array(16 * 16);
        for (let p = 0; p < 16; p++) {
          for (let q = 0; q < 16; q++) {
            let s = 0;
            for (let k = K - 1; k >= 0; k--) {
              const a = generateTileA(float, i, k);
              const b = generateTileB(float, k, j);
              for (let l = 0; l < 16; l++) s += a[p * 16 + l]! * b[l * 16 + q]!;
            }
            out[p * 16 + q] = s;
          }
        }
        return out;
      }),
    );
    for (const seed of [1, 2, 3, 4, 5]) {
      expect(await verifyJob(float, (i, j) => floatC[i]![j]!, { verifySeed: seed })).toMatchObject({
        verified: true,
        check: "tiles",
        missProbabilityBound: null,
      });
      expect((await verifyJob(float, (i, j) => alt[i]![j]!, { verifySeed: seed })).verified).toBe(
        true,
      );
    }
    // Maps of two inner tiles (kPerMap 2): longer dot products, one-term reduces; still within.
    const grouped = { ...float, kPerMap: 2 };
    const groupedC = computeJob(grouped);
    expect((await verifyJob(grouped, (i, j) => groupedC[i]![j]!, { verifySeed: 9 })).verified).toBe(
      true,
    );
  });

  it("exact mode: a single element changed by ±1 anywhere fails, and names the tile", async () => {
    const next = rng(7);
    for (let trial = 0; trial < 40; trial++) {
      const i = Math.floor(next() * 4);
      const j = Math.floor(next() * 4);
      const e = Math.floor(next() * 256);
      const delta = next() < 0.5 ? 1 : -1;
      const bad = exactC[i]![j]!.slice();
      bad[e] = bad[e]! + delta;
      const result = await verifyJob(
        exact,
        (ti, tj) => (ti === i && tj === j ? bad : exactC[ti]![tj]!),
        {
          rounds: 1,
          verifySeed: trial,
        },
      );
      expect(result.verified).toBe(false);
      expect(result.failures.map((f) => [f.i, f.j])).toEqual([[i, j]]);
      expect(result.failures[0]!.reason).toContain(`row ${Math.floor(e / 16)}`);
      expect(result.tilesChecked).toBe(16);
    }
  });

  it("exact mode: every position of a tile, every seed — a +1 is always caught", async () => {
    // Certainty, not probability: r has no zero entries and the arithmetic is exact.
    const i = 2;
    const j = 1;
    for (let e = 0; e < 256; e++) {
      const bad = exactC[i]![j]!.slice();
      bad[e] = bad[e]! + 1;
      const result = await verifyTile(exact, i, j, bad, { rounds: 1, verifySeed: e * 7919 });
      expect(result.verified).toBe(false);
    }
    expect((await verifyTile(exact, i, j, exactC[i]![j]!, { verifySeed: 3 })).verified).toBe(true);
  });

  it("exact mode: non-integer or out-of-range values fail the range check", async () => {
    for (const value of [0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 24, -(2 ** 30)]) {
      const bad = exactC[0]![3]!.slice();
      bad[77] = value;
      const result = await verifyTile(exact, 0, 3, bad);
      expect(result.verified).toBe(false);
      expect(result.reason).toContain("element (4,13)");
    }
  });

  it("float mode: a single small change anywhere fails", async () => {
    // Guaranteed-detection threshold (see freivalds.ts): |δ| > 2·tol_p with
    // tol_p ≤ c·γ(t+K−1)·n·t·max|r| (|a|,|b| ≤ 1, |r| < 2) ≈ 2·2.0e−6·32·16·2 = 4.1e−3.
    // C's elements are ~1.9 in magnitude here, so δ = 2^−7 ≈ 0.4% of a typical element.
    const delta = 2 ** -7;
    const next = rng(99);
    for (let trial = 0; trial < 40; trial++) {
      const i = Math.floor(next() * 2);
      const j = Math.floor(next() * 2);
      const e = Math.floor(next() * 256);
      const bad = floatC[i]![j]!.slice();
      bad[e] = bad[e]! + (next() < 0.5 ? delta : -delta);
      const result = await verifyJob(
        float,
        (ti, tj) => (ti === i && tj === j ? bad : floatC[ti]![tj]!),
        {
          rounds: 1,
          verifySeed: trial,
        },
      );
      expect(result.failures.map((f) => [f.i, f.j])).toEqual([[i, j]]);
      expect(result.failures[0]!.reason).toContain("exceeds tolerance");
    }
    const nan = floatC[1]![1]!.slice();
    nan[0] = Number.NaN;
    expect((await verifyTile(float, 1, 1, nan)).reason).toContain("is not finite");
  });

  it("processes columns in chunks under a memory cap with the same verdicts", async () => {
    const bad = exactC[3]![0]!.slice();
    bad[255] = bad[255]! - 1;
    const get = (i: number, j: number) => (i === 3 && j === 0 ? bad : exactC[i]![j]!);
    const small = await verifyJob(exact, get, {
      maxScratchBytes: 1,
      verifySeed: 5,
      check: "tiles",
    });
    const large = await verifyJob(exact, get, { verifySeed: 5, check: "tiles" });
    expect(small.failures).toEqual(large.failures);
    expect(small.failures.map((f) => [f.i, f.j])).toEqual([[3, 0]]);
    expect(small.tilesChecked).toBe(16);
  });

  it("reports unreadable or mis-shaped tiles as failures instead of throwing", async () => {
    const result = await verifyJob(exact, async (i, j) => {
      if (i === 1 && j === 2) throw new Error("storage says no");
      if (i === 0 && j === 0) return new Float32Array(3);
      return exactC[i]![j]!;
    });
    expect(result.verified).toBe(false);
    expect(result.failures).toEqual([
      { i: 0, j: 0, reason: "output tile has 3 elements, expected 256" },
      { i: 1, j: 2, reason: "output tile could not be read: storage says no" },
    ]);
    expect(result.tilesChecked).toBe(16);
  });

  it("verifies against supplied inputs (e.g. tiles read back from storage)", async () => {
    const roundTrip = (a: Float32Array) => decodeTile(encodeTile(a, { rows: 16, cols: 16 })).data;
    const inputs = {
      tileA: (i: number, k: number) => roundTrip(generateTileA(exact, i, k)),
      tileB: async (k: number, j: number) => roundTrip(generateTileB(exact, k, j)),
    };
    expect((await verifyJob(exact, (i, j) => exactC[i]![j]!, { inputs })).verified).toBe(true);
    // C no longer matches if one input tile is different: the check really uses the inputs.
    const swapped = {
      ...inputs,
      tileB: (k: number, j: number) => generateTileB(exact, k, (j + 1) % 4),
    };
    const result = await verifyJob(exact, (i, j) => exactC[i]![j]!, { inputs: swapped });
    expect(result.verified).toBe(false);
    expect(result.failures.length).toBe(16);
    const outOfRange = { ...inputs, tileA: () => new Float32Array(256).fill(1e6) };
    await expect(
      verifyJob(exact, (i, j) => exactC[i]![j]!, { inputs: outOfRange }),
    ).rejects.toMatchObject({
      code: MatrixErrorCode.ArgumentInvalid,
    });
  });

  it("rejects bad options and coordinates with typed errors", async () => {
    await expect(verifyJob(exact, () => exactC[0]![0]!, { rounds: 0 })).rejects.toMatchObject({
      code: MatrixErrorCode.ArgumentInvalid,
    });
    await expect(verifyJob(exact, () => exactC[0]![0]!, { verifySeed: -1 })).rejects.toMatchObject({
      code: MatrixErrorCode.ArgumentInvalid,
    });
    await expect(verifyTile(exact, 4, 0, exactC[0]![0]!)).rejects.toMatchObject({
      code: MatrixErrorCode.TaskOutOfRange,
    });
    await expect(verifyJob({ ...exact, tile: 20 }, () => exactC[0]![0]!)).rejects.toMatchObject({
      code: MatrixErrorCode.JobSpecInvalid,
    });
  });
});

describe("verifyJob's row-block check (exact mode's default)", () => {
  it("reads each output and input tile once when the job is right", async () => {
    const reads = { A: 0, B: 0, C: 0 };
    const inputs = {
      tileA: (i: number, k: number) => {
        reads.A++;
        return generateTileA(exact, i, k);
      },
      tileB: (k: number, j: number) => {
        reads.B++;
        return generateTileB(exact, k, j);
      },
    };
    const result = await verifyJob(
      exact,
      (i, j) => {
        reads.C++;
        return exactC[i]![j]!;
      },
      { inputs, verifySeed: 2 },
    );
    expect(result).toMatchObject({ verified: true, failures: [], tilesChecked: 16 });
    expect(reads).toEqual({ A: 16, B: 16, C: 16 });
  });

  it("names the same wrong tiles as the tile check, for one or several wrong elements", async () => {
    const next = rng(31);
    for (let trial = 0; trial < 30; trial++) {
      const bad = exactC.map((row) => row.map((c) => c));
      const wrong = 1 + Math.floor(next() * 4);
      for (let w = 0; w < wrong; w++) {
        const i = Math.floor(next() * 4);
        const j = Math.floor(next() * 4);
        const tile = bad[i]![j]!.slice();
        const e = Math.floor(next() * 256);
        tile[e] = tile[e]! + (next() < 0.5 ? 1 + Math.floor(next() * 1000) : -1);
        bad[i]![j] = tile;
      }
      const get = (i: number, j: number) => bad[i]![j]!;
      const rows = await verifyJob(exact, get, { verifySeed: trial, rounds: 1 });
      const tiles = await verifyJob(exact, get, { verifySeed: trial, rounds: 1, check: "tiles" });
      expect(rows.verified).toBe(false);
      expect(rows.failures).toEqual(tiles.failures);
      expect(rows.tilesChecked).toBe(16);
    }
  });

  it("catches a +1 at every position of the whole output, whatever the seed", async () => {
    // Certainty again: the row vector has no zero entries and the arithmetic is exact.
    for (let pos = 0; pos < 64 * 64; pos += 7) {
      const i = Math.floor(pos / 64 / 16);
      const j = Math.floor((pos % 64) / 16);
      const e = (((pos / 64) % 16) | 0) * 16 + (pos % 16);
      const bad = exactC[i]![j]!.slice();
      bad[e] = bad[e]! + 1;
      const result = await verifyJob(
        exact,
        (ti, tj) => (ti === i && tj === j ? bad : exactC[ti]![tj]!),
        {
          rounds: 1,
          verifySeed: Math.imul(pos, 2654435761) >>> 0,
        },
      );
      expect(result.failures.map((f) => [f.i, f.j])).toEqual([[i, j]]);
    }
  });

  it("fails every tile of a row block it cannot pin down rather than pass it", async () => {
    // Inputs that change between the row pass and the tile pass stand in for the rare tile-check
    // vector that misses an error the row check saw.
    let calls = 0;
    const inputs = {
      tileA: (i: number, k: number) => generateTileA(exact, i, k),
      tileB: (k: number, j: number) =>
        calls++ < 16 && k === 0 && j === 0
          ? generateTileB(exact, 1, 1)
          : generateTileB(exact, k, j),
    };
    const result = await verifyJob(exact, (i, j) => exactC[i]![j]!, { inputs, verifySeed: 4 });
    expect(result.verified).toBe(false);
    expect(result.failures.length).toBe(16);
    expect(result.failures[0]!.reason).toContain("failed the whole-row check");
    expect(result.failures[0]!.reason).toContain("no single tile could be named");
  });

  it("reports unreadable and out-of-range tiles of a row block by tile", async () => {
    const outOfRange = exactC[2]![1]!.slice();
    outOfRange[5] = 0.5;
    const result = await verifyJob(exact, (i, j) => {
      if (i === 0 && j === 3) throw new Error("gone");
      return i === 2 && j === 1 ? outOfRange : exactC[i]![j]!;
    });
    expect(result.failures).toEqual([
      { i: 0, j: 3, reason: "output tile could not be read: gone" },
      { i: 2, j: 1, reason: `element (0,5) = 0.5 is not an integer within ±16711744` },
    ]);
    expect(result.tilesChecked).toBe(16);
  });

  it("lets the tile check decide a row block whose tile could not be read the first time", async () => {
    let failedOnce = false;
    const result = await verifyJob(exact, (i, j) => {
      if (i === 1 && j === 2 && !failedOnce) {
        failedOnce = true;
        throw new Error("storage hiccup");
      }
      return exactC[i]![j]!;
    });
    expect(failedOnce).toBe(true);
    expect(result).toMatchObject({ verified: true, failures: [], tilesChecked: 16 });
  });

  it("refuses float mode and unknown check names", async () => {
    await expect(
      verifyJob(float, (i, j) => floatC[i]![j]!, { check: "rows" }),
    ).rejects.toMatchObject({ code: MatrixErrorCode.ArgumentInvalid });
    await expect(
      verifyJob(exact, (i, j) => exactC[i]![j]!, { check: "columns" as "rows" }),
    ).rejects.toMatchObject({ code: MatrixErrorCode.ArgumentInvalid });
  });
});

describe("verifyJob at the exact-mode bound", () => {
  it("verifies a job whose sums come close to 2^24 and catches ±1 there", async () => {
    const spec: MatmulJobSpec = { n: 256, tile: 64, mode: "exact", seed: 4 }; // m = 255
    const C = computeJob(spec);
    expect((await verifyJob(spec, (i, j) => C[i]![j]!, { verifySeed: 8 })).verified).toBe(true);
    const bad = C[2]![3]!.slice();
    bad[1234] = bad[1234]! + 1;
    const result = await verifyJob(spec, (i, j) => (i === 2 && j === 3 ? bad : C[i]![j]!), {
      rounds: 1,
    });
    expect(result.failures.map((f) => [f.i, f.j])).toEqual([[2, 3]]);
    const tiles = await verifyJob(spec, (i, j) => (i === 2 && j === 3 ? bad : C[i]![j]!), {
      rounds: 1,
      check: "tiles",
    });
    expect(tiles.failures.map((f) => [f.i, f.j])).toEqual([[2, 3]]);
  });
});
