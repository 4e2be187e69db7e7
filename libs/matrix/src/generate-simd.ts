// Input-tile rows through a small WebAssembly SIMD module (generate-simd.wat), four elements at a
// time: ~5× the JavaScript loop's speed (1024² tile: 2.4 vs 11.7 ms on one core), bit for bit the
// same values (generate-simd.test.ts compares them). Input generation is most of a job's Freivalds
// verification and all of an agent's work for an input tile nobody stored.
import { GENERATE_SIMD_WASM_BASE64 } from "./generate-simd-bytes.js";
import { instantiateWasm } from "./wasm-instance.js";

/** Fills the first `t` float32 values of `row` (t a multiple of 4, at most ROW_CAPACITY). */
export interface SimdRows {
  readonly row: Float32Array;
  exact(t: number, col0: number, k0: number, k1: number, scale: number, m: number): void;
  float(t: number, col0: number, k0: number, k1: number): void;
}

interface Exports {
  readonly memory: { readonly buffer: ArrayBuffer };
  rowExact(t: number, col0: number, k0: number, k1: number, scale: number, m: number): void;
  rowFloat(t: number, col0: number, k0: number, k1: number): void;
}

/** The module's one 64 KiB page holds a row of up to this many float32 values. */
export const ROW_CAPACITY = 16_384;

let cached: SimdRows | null | undefined;

/**
 * The SIMD row generator, or undefined where this runtime has no WebAssembly SIMD (then the
 * JavaScript loop runs). Instantiated once per thread, synchronously (539 bytes).
 */
export function simdRows(): SimdRows | undefined {
  if (cached === undefined) cached = instantiate();
  return cached ?? undefined;
}

function instantiate(): SimdRows | null {
  const x = instantiateWasm<Exports>(GENERATE_SIMD_WASM_BASE64);
  if (!x) return null;
  return {
    row: new Float32Array(x.memory.buffer, 0, ROW_CAPACITY),
    // k0, k1 are uint32 stream keys; WebAssembly's i32 parameters take their bit patterns.
    exact: (t, col0, k0, k1, scale, m) => x.rowExact(t, col0, k0 | 0, k1 | 0, scale, m),
    float: (t, col0, k0, k1) => x.rowFloat(t, col0, k0 | 0, k1 | 0),
  };
}
