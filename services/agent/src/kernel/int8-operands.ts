// Operands of the 8-bit Map kernel (onnx-graphs.ts buildMatMulInt8Model). Exact mode's inputs are
// integers within ±m (libs/matrix exactElementBound: m = 45 at n = 8192), so they fit int8, and a
// GEMM over them in integers is exact wherever the float32 one is: no rounding happens in either.
// ONNX Runtime's fast integer GEMM (MLAS) takes A as uint8 and B as int8, so A is shifted by +128
// and the graph's zero point takes the 128 back off inside the kernel.
import { type PackTarget, packSideBySide, packStacked } from "./pack-inner.js";

/**
 * The largest element bound m for which the 8-bit kernel is exact on every MLAS code path.
 * With VNNI (VPDPBUSD) the products accumulate in int32 and any m ≤ 127 would do; without it
 * (AVX2, AVX-512 before VNNI) MLAS adds pairs of u8·s8 products into int16 with VPMADDUBSW,
 * which saturates above 32,767. The largest such pair is 2·(128 + m)·m, ≤ 32,767 for m ≤ 79.
 * Exact mode's bound is ≤ 79 from n ≥ 2,622 on (63 at 4,096, 45 at 8,192); smaller jobs keep
 * the float32 kernel.
 */
export const INT8_MAX_EXACT_BOUND = 79;

/** Which Map kernel computes a product: the float32 GEMM or the exact 8-bit one. */
export type MapKernel = "float32" | "int8";

/** Packs A's tiles side by side as uint8 a + 128 (the layout of packSideBySide). */
export function packInt8SideBySide(
  tiles: readonly Float32Array[],
  tile: number,
  into: Uint8Array = new Uint8Array(tile * tile * tiles.length),
): Uint8Array {
  packSideBySide(tiles, tile, int8View(into));
  return offsetToUint8(into);
}

/** Packs B's tiles stacked as int8 (the layout of packStacked). */
export function packInt8Stacked(
  tiles: readonly Float32Array[],
  tile: number,
  into: Int8Array = new Int8Array(tile * tile * tiles.length),
): Int8Array {
  return packStacked(tiles, tile, into);
}

function int8View(bytes: Uint8Array): PackTarget {
  return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/**
 * Turns int8 two's-complement bytes x into the uint8 x + 128, in place: flipping the top bit is
 * that addition for every x in −128..127. Four bytes at a time where the view is aligned.
 */
export function offsetToUint8(bytes: Uint8Array): Uint8Array {
  let i = 0;
  const n = bytes.length;
  for (; i < n && (bytes.byteOffset + i) % 4 !== 0; i++) bytes[i] = (bytes[i] as number) ^ 0x80;
  const words = Math.floor((n - i) / 4);
  if (words > 0) {
    const w = new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
    for (let x = 0; x < words; x++) w[x] = (w[x] as number) ^ 0x80808080;
    i += words * 4;
  }
  for (; i < n; i++) bytes[i] = (bytes[i] as number) ^ 0x80;
  return bytes;
}
