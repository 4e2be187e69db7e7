// Freivalds' exact-mode arithmetic through a small WebAssembly SIMD module (freivalds-simd.wat):
// the row-block check's tile-rows-against-two-vectors products and the output range check, each
// several times the JavaScript loop's speed and bit for bit its results (exact integers; the
// tests compare both). Tiles are copied into the module's memory a block of rows at a time, so
// it stays about a MiB whatever the tile size.
import { FREIVALDS_SIMD_WASM_BASE64 } from "./freivalds-simd-bytes.js";
import { instantiateWasm, type WasmMemory } from "./wasm-instance.js";

interface Exports {
  readonly memory: WasmMemory;
  dots2(x: number, t: number, rows: number, v: number, out: number): void;
  firstOutOfRange(x: number, count: number, bound: number): number;
}

export interface FreivaldsSimd {
  /**
   * out[2p + ρ] += Σ_q tile[p·t + q]·v[2q + ρ] for ρ = 0, 1 and every row p of a t×t tile
   * (t a multiple of 4, v of length 2t): the default two rounds of the row-block check.
   */
  dots2(tile: Float32Array, t: number, v: Float64Array, out: Float64Array): void;
  /** Whether every value is an integer within ±bound (bound a float32 value; length % 4 = 0). */
  inRange(values: Float32Array, bound: number): boolean;
}

/** Bytes of a tile copied into the module per call. */
const BLOCK_BYTES = 1 << 20;
const PAGE_BYTES = 1 << 16;

let cached: FreivaldsSimd | null | undefined;

/** The SIMD kernels, or undefined where this runtime has no WebAssembly SIMD. */
export function freivaldsSimd(): FreivaldsSimd | undefined {
  if (cached === undefined) {
    const x = instantiateWasm<Exports>(FREIVALDS_SIMD_WASM_BASE64);
    cached = x ? kernels(x) : null;
  }
  return cached ?? undefined;
}

function kernels(x: Exports): FreivaldsSimd {
  const reserve = (bytes: number): ArrayBuffer => {
    const missing = Math.ceil(bytes / PAGE_BYTES) - x.memory.buffer.byteLength / PAGE_BYTES;
    if (missing > 0) x.memory.grow(missing);
    return x.memory.buffer; // a grown memory has a new buffer: views are made after this
  };
  const blockElements = BLOCK_BYTES / 4;
  return {
    dots2(tile, t, v, out) {
      const rowsPerBlock = Math.max(1, Math.min(t, Math.floor(blockElements / t)));
      const vAt = rowsPerBlock * t * 4; // 16-byte aligned: t is a multiple of 4
      const sumsAt = vAt + t * 16;
      const buffer = reserve(sumsAt + rowsPerBlock * 16);
      new Float64Array(buffer, vAt, 2 * t).set(v.subarray(0, 2 * t));
      const block = new Float32Array(buffer, 0, rowsPerBlock * t);
      const sums = new Float64Array(buffer, sumsAt, 2 * rowsPerBlock);
      for (let p0 = 0; p0 < t; p0 += rowsPerBlock) {
        const rows = Math.min(rowsPerBlock, t - p0);
        block.set(tile.subarray(p0 * t, (p0 + rows) * t));
        x.dots2(0, t, rows, vAt, sumsAt);
        const o = 2 * p0;
        for (let e = 0; e < 2 * rows; e++) out[o + e] = out[o + e]! + sums[e]!;
      }
    },
    inRange(values, bound) {
      const block = new Float32Array(reserve(BLOCK_BYTES), 0, blockElements);
      for (let e0 = 0; e0 < values.length; e0 += blockElements) {
        const part = values.subarray(e0, e0 + blockElements);
        block.set(part);
        if (x.firstOutOfRange(0, part.length, bound) >= 0) return false;
      }
      return true;
    },
  };
}
