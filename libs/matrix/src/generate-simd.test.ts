import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs build script without type declarations
import { compileWat } from "../scripts/build-wasm.mjs";
import { generateTile, generateTileWith } from "./generate.js";
import { simdRows } from "./generate-simd.js";
import { GENERATE_SIMD_WASM_BASE64 } from "./generate-simd-bytes.js";
import type { MatmulJobSpec } from "./spec.js";

describe("SIMD input generation", () => {
  it("is what this runtime uses (Node's WebAssembly has SIMD)", () => {
    expect(simdRows()).toBeDefined();
  });

  it("embeds exactly the module generate-simd.wat compiles to", async () => {
    const compiled = (await compileWat("generate-simd")) as Buffer;
    expect(GENERATE_SIMD_WASM_BASE64).toBe(compiled.toString("base64"));
  });

  it("makes the JavaScript loop's values bit for bit, in both modes, at every scale", () => {
    const specs: MatmulJobSpec[] = [
      { n: 256, tile: 64, mode: "exact", seed: 12345 },
      { n: 256, tile: 64, mode: "float", seed: 12345 },
      { n: 64, tile: 16, mode: "exact", seed: 0 },
      { n: 64, tile: 16, mode: "float", seed: 0xffff_ffff },
      // m = 3 at n = 2^20; far-away coordinates exercise counters near 2^20 and above.
      { n: 2 ** 20, tile: 1024, mode: "exact", seed: 7 },
      { n: 8192, tile: 1024, mode: "float", seed: 1 },
    ];
    for (const spec of specs) {
      const K = spec.n / spec.tile;
      for (const [matrix, row, col] of [
        ["A", 0, 0],
        ["B", K - 1, 1],
        ["A", 1, K - 1],
      ] as const) {
        const want = generateTileWith(undefined, spec, matrix, row, col);
        const got = generateTile(spec, matrix, row, col);
        const label = `${spec.mode} n=${spec.n} t=${spec.tile} seed=${spec.seed} ${matrix}(${row},${col})`;
        // Compare the bits (Object.is would also tell −0 from 0; a byte compare does that too).
        expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), label).toBe(true);
        // Into a reused buffer: every element overwritten, same bits.
        const reused = new Float32Array(spec.tile * spec.tile).fill(Number.NaN);
        generateTile(spec, matrix, row, col, reused);
        expect(Buffer.from(reused.buffer).equals(Buffer.from(want.buffer)), label).toBe(true);
      }
    }
  });
});
