// Freivalds' arithmetic through a small WebAssembly SIMD module (freivalds-simd.wat): the
// row-block check's tile-rows-against-two-vectors products, the tile check's A·Y product and the
// exact-mode output range check, each several times the JavaScript loop's speed and bit for bit
// its results (the tests compare both). Tiles are copied into the module's memory a block of rows
// at a time, so it stays a few MiB whatever the tile size.
import { FREIVALDS_SIMD_WASM_BASE64 } from "./freivalds-simd-bytes.js";
import { instantiateWasm, type WasmMemory } from "./wasm-instance.js";

interface Exports {
  readonly memory: WasmMemory;
  dots2(x: number, t: number, rows: number, v: number, out: number): void;
  firstOutOfRange(x: number, count: number, bound: number): number;
  product(a: number, t: number, rows: number, y: number, w: number, out: number, abs: number): void;
  sums2(x: number, t: number, rows: number, v: number, out: number): void;
}

export interface FreivaldsSimd {
  /**
   * out[2p + ρ] += Σ_q tile[p·t + q]·v[2q + ρ] for ρ = 0, 1 and every row p of a t×t tile
   * (t a multiple of 4, v of length 2t): the default two rounds of the row-block check.
   */
  dots2(tile: Float32Array, t: number, v: Float64Array, out: Float64Array): void;
  /**
   * out[4p..4p+3] = (Σ_q x·v[2q], Σ_q |x·v[2q]|, Σ_q x·v[2q+1], Σ_q |x·v[2q+1]|), x = tile[p·t + q],
   * for every row p of a t×t tile, each summed over q in order: the tile check's two rounds of
   * row sums (with their absolute values) in one pass.
   */
  sums2(tile: Float32Array, t: number, v: Float64Array, out: Float64Array): void;
  /** Whether every value is an integer within ±bound (bound a float32 value; length % 4 = 0). */
  inRange(values: Float32Array, bound: number): boolean;
  /**
   * Z[p·W + c] += Σ_l a'[p·t + l]·Y[l·W + c] for a t×t tile a and t×W Y, each sum over l in
   * order; a' = a, or |a| in odd columns when `withAbs` (float mode's (sum, |·|) column pairs).
   */
  product(
    a: Float32Array,
    t: number,
    Y: Float64Array,
    W: number,
    Z: Float64Array,
    withAbs: boolean,
  ): void;
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
  /**
   * Runs `kernel` (rows of the tile at address 0 against two interleaved vectors, `perRow`
   * float64 results per row) over the tile a block of rows at a time; `take` gets each block's
   * results before the next block overwrites them.
   */
  const againstTwoVectors = (
    tile: Float32Array,
    t: number,
    v: Float64Array,
    perRow: number,
    kernel: (x: number, t: number, rows: number, v: number, out: number) => void,
    take: (sums: Float64Array, p0: number, rows: number) => void,
  ): void => {
    const rowsPerBlock = Math.max(1, Math.min(t, Math.floor(blockElements / t)));
    const vAt = rowsPerBlock * t * 4; // 16-byte aligned: t is a multiple of 4
    const sumsAt = vAt + t * 16;
    const buffer = reserve(sumsAt + rowsPerBlock * perRow * 8);
    new Float64Array(buffer, vAt, 2 * t).set(v.subarray(0, 2 * t));
    const block = new Float32Array(buffer, 0, rowsPerBlock * t);
    const sums = new Float64Array(buffer, sumsAt, perRow * rowsPerBlock);
    for (let p0 = 0; p0 < t; p0 += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, t - p0);
      block.set(tile.subarray(p0 * t, (p0 + rows) * t));
      kernel(0, t, rows, vAt, sumsAt);
      take(sums, p0, rows);
    }
  };
  return {
    dots2(tile, t, v, out) {
      againstTwoVectors(tile, t, v, 2, x.dots2, (sums, p0, rows) => {
        const o = 2 * p0;
        for (let e = 0; e < 2 * rows; e++) out[o + e] = out[o + e]! + sums[e]!;
      });
    },
    sums2(tile, t, v, out) {
      againstTwoVectors(tile, t, v, 4, x.sums2, (sums, p0, rows) => {
        out.set(sums.subarray(0, 4 * rows), 4 * p0);
      });
    },
    product(a, t, Y, W, Z, withAbs) {
      // Y's rows padded to a multiple of 8 columns (zeros): the module works 8 columns a pass.
      const Wp = Math.ceil(W / 8) * 8;
      const rowsPerBlock = Math.max(1, Math.min(t, Math.floor(blockElements / t)));
      const aAt = t * Wp * 8;
      const outAt = aAt + rowsPerBlock * t * 4;
      const buffer = reserve(outAt + rowsPerBlock * Wp * 8);
      const y = new Float64Array(buffer, 0, t * Wp);
      if (Wp === W) {
        y.set(Y.subarray(0, t * W));
      } else {
        y.fill(0);
        for (let l = 0; l < t; l++) y.set(Y.subarray(l * W, (l + 1) * W), l * Wp);
      }
      const block = new Float32Array(buffer, aAt, rowsPerBlock * t);
      const sums = new Float64Array(buffer, outAt, rowsPerBlock * Wp);
      for (let p0 = 0; p0 < t; p0 += rowsPerBlock) {
        const rows = Math.min(rowsPerBlock, t - p0);
        block.set(a.subarray(p0 * t, (p0 + rows) * t));
        x.product(aAt, t, rows, 0, Wp, outAt, withAbs ? 1 : 0);
        for (let p = 0; p < rows; p++) {
          const z = (p0 + p) * W;
          const o = p * Wp;
          for (let c = 0; c < W; c++) Z[z + c] = Z[z + c]! + sums[o + c]!;
        }
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
