import { describe, expect, it } from "vitest";
import { MatrixErrorCode } from "./errors.js";
import { thrown } from "./errors.test-helpers.js";
import { generateMatrix, generateTileA, generateTileB } from "./generate.js";
import {
  referenceGemm,
  referenceOutputTile,
  referenceProduct,
  tileGemm,
} from "./reference-gemm.js";
import type { MatmulJobSpec } from "./spec.js";

describe("reference GEMM", () => {
  it("computes a known product", () => {
    // [1 2; 3 4]·[5 6; 7 8] = [19 22; 43 50]
    expect(Array.from(referenceGemm([1, 2, 3, 4], [5, 6, 7, 8], 2))).toEqual([19, 22, 43, 50]);
    const t = 16;
    const eye = new Float32Array(t * t);
    for (let d = 0; d < t; d++) eye[d * t + d] = 1;
    const a = generateTileA({ n: 32, tile: 16, mode: "float", seed: 2 }, 0, 1);
    expect(Array.from(tileGemm(a, eye, t))).toEqual(Array.from(a));
    const acc = tileGemm(a, eye, t);
    expect(tileGemm(a, eye, t, acc)).toBe(acc);
    expect(acc[5]).toBe(Math.fround(2 * a[5]!));
  });

  it("exact mode: the tiled float32 job equals the float64 product bit for bit, in any order", () => {
    // m is as large as the bound allows (n = 128 → m = 362), so sums come close to 2^24.
    const spec: MatmulJobSpec = { n: 128, tile: 32, mode: "exact", seed: 11 };
    const full = referenceProduct(spec);
    let maxAbs = 0;
    for (const v of full) maxAbs = Math.max(maxAbs, Math.abs(v));
    expect(maxAbs).toBeLessThan(2 ** 24);
    const K = 4;
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const tile = referenceOutputTile(spec, i, j);
        // Maps of 2 or 4 inner tiles group the same sums differently: still exact.
        const grouped2 = referenceOutputTile({ ...spec, kPerMap: 2 }, i, j);
        const grouped4 = referenceOutputTile({ ...spec, kPerMap: 4 }, i, j);
        // Same tile reduced in reverse k order, float32 throughout.
        const reversed = new Float32Array(32 * 32);
        for (let k = K - 1; k >= 0; k--) {
          const part = tileGemm(generateTileA(spec, i, k), generateTileB(spec, k, j), 32);
          for (let e = 0; e < part.length; e++) reversed[e] = reversed[e]! + part[e]!;
        }
        for (let r = 0; r < 32; r++) {
          for (let c = 0; c < 32; c++) {
            const want = full[(i * 32 + r) * 128 + j * 32 + c]!;
            expect(tile[r * 32 + c]).toBe(want);
            expect(reversed[r * 32 + c]).toBe(want);
            expect(grouped2[r * 32 + c]).toBe(want);
            expect(grouped4[r * 32 + c]).toBe(want);
          }
        }
      }
    }
  });

  it("float mode: the tiled float32 job stays close to the float64 product", () => {
    const spec: MatmulJobSpec = { n: 64, tile: 16, mode: "float", seed: 11 };
    const full = referenceGemm(generateMatrix(spec, "A"), generateMatrix(spec, "B"), 64);
    const tile = referenceOutputTile(spec, 1, 2);
    for (let r = 0; r < 16; r++) {
      for (let c = 0; c < 16; c++) {
        expect(Math.abs(tile[r * 16 + c]! - full[(16 + r) * 64 + 32 + c]!)).toBeLessThan(1e-4);
      }
    }
  });

  it("rejects mismatched sizes", () => {
    expect(thrown(() => tileGemm(new Float32Array(4), new Float32Array(9), 2)).code).toBe(
      MatrixErrorCode.ArgumentInvalid,
    );
    expect(thrown(() => referenceGemm([1, 2, 3], [1, 2, 3, 4], 2)).code).toBe(
      MatrixErrorCode.ArgumentInvalid,
    );
  });
});
