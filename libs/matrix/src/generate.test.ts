import { describe, expect, it } from "vitest";
import { MatrixErrorCode } from "./errors.js";
import { thrown } from "./errors.test-helpers.js";
import { generateMatrix, generateTile } from "./generate.js";
import { exactElementBound, type MatmulJobSpec } from "./spec.js";
import { encodeTile, readTileHeader } from "./tile-format.js";

const exact: MatmulJobSpec = { n: 256, tile: 64, mode: "exact", seed: 12345 };
const float: MatmulJobSpec = { ...exact, mode: "float" };

function bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Little-endian payload CRC, identical on every host. */
function payloadCrc(a: Float32Array): string {
  return readTileHeader(encodeTile(a, { rows: 64, cols: 64 })).payloadChecksum;
}

describe("generateTile", () => {
  it("is pinned: these exact values are the dataset, on every machine, forever", () => {
    // If this test fails the generator changed, and every stored dataset keyed by the same
    // dataset id would silently disagree with regenerated tiles. Bump DOMAIN_INPUT_V1 instead.
    const a = generateTile(exact, "A", 1, 2);
    expect(Array.from(a.subarray(0, 4))).toEqual([-242, 155, 154, 159]);
    expect(payloadCrc(a)).toBe("044d7141");
    expect(payloadCrc(generateTile(exact, "B", 3, 0))).toBe("8a2da2f2");
    const f = generateTile(float, "A", 1, 2);
    expect(f[0]).toBe(-0.9476243257522583);
    expect(payloadCrc(f)).toBe("e749a275");
    expect(payloadCrc(generateTile(float, "B", 3, 0))).toBe("91fb442d");
  });

  it("is deterministic: same inputs give byte-identical tiles, with or without a reused buffer", () => {
    for (const spec of [exact, float]) {
      const one = generateTile(spec, "B", 2, 3);
      const out = new Float32Array(64 * 64).fill(Number.NaN);
      const two = generateTile(spec, "B", 2, 3, out);
      expect(two).toBe(out);
      expect(Buffer.compare(bytes(one), bytes(two))).toBe(0);
    }
  });

  it("gives independent tiles for different coordinates, matrices and seeds", () => {
    const variants = [
      generateTile(exact, "A", 0, 0),
      generateTile(exact, "A", 0, 1),
      generateTile(exact, "A", 1, 0),
      generateTile(exact, "B", 0, 0),
      generateTile({ ...exact, seed: 12346 }, "A", 0, 0),
    ];
    for (let x = 0; x < variants.length; x++) {
      for (let y = x + 1; y < variants.length; y++) {
        const a = variants[x]!;
        const b = variants[y]!;
        let equal = 0;
        for (let e = 0; e < a.length; e++) if (a[e] === b[e]) equal++;
        // Independent uniform values on 2m+1 = 2047 levels agree ~1/2047 of the time (≈2 of 4096).
        expect(equal).toBeLessThan(20);
      }
    }
  });

  it("does not depend on the tiling: a tile is a window onto one fixed matrix", () => {
    const a16 = generateMatrix({ n: 64, tile: 16, mode: "exact", seed: 9 }, "A");
    const a32 = generateMatrix({ n: 64, tile: 32, mode: "exact", seed: 9 }, "A");
    expect(Buffer.compare(bytes(a16), bytes(a32))).toBe(0);
    const tile = generateTile({ n: 64, tile: 32, mode: "exact", seed: 9 }, "A", 1, 0);
    expect(Array.from(tile.subarray(0, 32))).toEqual(
      Array.from(a16.subarray(32 * 64, 32 * 64 + 32)),
    );
  });

  it("keeps exact-mode values integers in [−m, m] and uses the whole range", () => {
    for (const n of [128, 4096, 2 ** 20]) {
      const spec: MatmulJobSpec = { n, tile: 64, mode: "exact", seed: 77 };
      const m = exactElementBound(n);
      let min = Infinity;
      let max = -Infinity;
      for (const [r, c] of [
        [0, 0],
        [0, 1],
      ] as const) {
        for (const v of generateTile(spec, "A", r, c)) {
          expect(Number.isInteger(v)).toBe(true);
          min = Math.min(min, v);
          max = Math.max(max, v);
        }
      }
      expect(min).toBeGreaterThanOrEqual(-m);
      expect(max).toBeLessThanOrEqual(m);
      if (n >= 4096) {
        // m is small there (32 or 3): 8192 draws hit both ends.
        expect(min).toBe(-m);
        expect(max).toBe(m);
      }
    }
  });

  it("keeps float-mode values in [−1, 1) with mean ≈ 0", () => {
    const t = generateTile({ n: 1024, tile: 256, mode: "float", seed: 5 }, "B", 3, 1);
    let sum = 0;
    let outside = 0;
    for (const v of t) {
      if (!(v >= -1 && v < 1)) outside++;
      sum += v;
    }
    expect(outside).toBe(0);
    // Std of the mean of 65536 uniform(−1,1) draws is 0.00226; 0.02 is ~9σ.
    expect(Math.abs(sum / t.length)).toBeLessThan(0.02);
  });

  it("rejects coordinates outside the grid and wrongly sized buffers", () => {
    expect(thrown(() => generateTile(exact, "A", 4, 0)).code).toBe(MatrixErrorCode.TaskOutOfRange);
    expect(thrown(() => generateTile(exact, "A", 0, -1)).code).toBe(MatrixErrorCode.TaskOutOfRange);
    expect(thrown(() => generateTile(exact, "A", 0, 0, new Float32Array(10))).code).toBe(
      MatrixErrorCode.ArgumentInvalid,
    );
    expect(thrown(() => generateMatrix({ ...exact, n: 16384 }, "A")).code).toBe(
      MatrixErrorCode.ArgumentInvalid,
    );
  });
});
