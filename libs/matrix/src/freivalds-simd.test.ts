import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs build script without type declarations
import { compileWat } from "../scripts/build-wasm.mjs";
import { accumulateRowDots } from "./freivalds-rows.js";
import { freivaldsSimd } from "./freivalds-simd.js";
import { FREIVALDS_SIMD_WASM_BASE64 } from "./freivalds-simd-bytes.js";
import { accumulateProduct, computeRowSums } from "./freivalds-tiles.js";

/** Deterministic integers in [−range, range] (mulberry32). */
function integers(length: number, range: number, seed: number): number[] {
  let a = seed >>> 0;
  return Array.from({ length }, () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    const u = ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
    return Math.floor(u * (2 * range + 1)) - range;
  });
}

describe("Freivalds SIMD kernels", () => {
  const simd = freivaldsSimd();

  it("are what this runtime uses (Node's WebAssembly has SIMD)", () => {
    expect(simd).toBeDefined();
  });

  it("embed exactly the module freivalds-simd.wat compiles to", async () => {
    const compiled = (await compileWat("freivalds-simd")) as Buffer;
    expect(FREIVALDS_SIMD_WASM_BASE64).toBe(compiled.toString("base64"));
  });

  it("dots2 adds the JavaScript loop's exact sums, bit for bit, for small and multi-block tiles", () => {
    // t = 1024: 256 rows per copied block, so four blocks; values at the exact-mode extremes
    // (|c| up to 2^24 − 1, |r| up to 2^29 / t) keep every sum an integer below 2^53.
    for (const [t, range, vRange] of [
      [16, 2 ** 24 - 1, 2 ** 25],
      [1024, 2 ** 24 - 1, 2 ** 19],
      [2048, 255, 2 ** 18],
    ] as const) {
      const tile = Float32Array.from(integers(t * t, range, t));
      const v = Float64Array.from(integers(2 * t, vRange, t + 1));
      const start = Float64Array.from(integers(2 * t, 1000, t + 2));
      const want = start.slice();
      accumulateRowDots(tile, t, v, want, 2);
      const got = start.slice();
      simd!.dots2(tile, t, v, got);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `t = ${t}`).toBe(true);
    }
  });

  it("product adds the JavaScript loop's sums bit for bit: float data, any width, with |A|", () => {
    // Float values with full mantissas: rounding happens, so only the same order per column
    // gives the same bits. W covers padding (not a multiple of 8) and several passes per row.
    for (const [t, W] of [
      [16, 1],
      [16, 2],
      [64, 6],
      [64, 8],
      [256, 34],
      [1024, 16],
    ] as const) {
      const a = Float32Array.from(integers(t * t, 2 ** 20, t), (v) => v / 2 ** 19);
      const Y = Float64Array.from(integers(t * W, 2 ** 30, W), (v) => v / 3);
      for (const withAbs of W % 2 === 0 ? [false, true] : [false]) {
        const start = Float64Array.from(integers(t * W, 1000, 7), (v) => v / 7);
        const want = start.slice();
        accumulateProduct(a, Y, want, t, W, withAbs);
        const got = start.slice();
        simd!.product(a, t, Y, W, got, withAbs);
        const label = `t = ${t}, W = ${W}, withAbs = ${withAbs}`;
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), label).toBe(true);
      }
    }
  });

  it("sums2 gives the JavaScript loop's row sums and absolute sums bit for bit", () => {
    for (const t of [16, 64, 1024]) {
      const tile = Float32Array.from(integers(t * t, 2 ** 20, t + 3), (v) => v / 2 ** 19);
      const rs = [0, 1].map((rho) =>
        Float64Array.from(integers(t, 2 ** 30, t + rho), (v) => (v / 2 ** 30) * 1.5),
      );
      const want = new Float64Array(4 * t);
      computeRowSums(tile, t, rs, 0, 2, want);
      const v = new Float64Array(2 * t);
      for (let q = 0; q < t; q++) {
        v[2 * q] = rs[0]![q]!;
        v[2 * q + 1] = rs[1]![q]!;
      }
      const got = new Float64Array(4 * t).fill(Number.NaN);
      simd!.sums2(tile, t, v, got);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `t = ${t}`).toBe(true);
    }
  });

  it("inRange accepts integers within ±bound and nothing else, in any block", () => {
    const bound = 2 ** 24 - 1;
    const values = Float32Array.from(integers(3 * 2 ** 18 + 4, bound, 5)); // > 3 MiB: 4 blocks
    values[9] = -0;
    values[10] = bound;
    values[11] = -bound;
    expect(simd!.inRange(values, bound)).toBe(true);
    for (const bad of [0.5, -1.25, Number.NaN, Infinity, -Infinity, bound + 1, -bound - 1]) {
      for (const at of [0, 7, values.length - 1]) {
        const copy = values.slice();
        copy[at] = bad;
        expect(simd!.inRange(copy, bound), `${bad} at ${at}`).toBe(false);
      }
    }
  });
});
