// Operands of the 8-bit Map kernel (onnx-graphs.ts buildMatMulInt8Model). Exact mode's inputs are
// integers within ±m (libs/matrix exactElementBound: m = 45 at n = 8192), so they fit int8, and a
// GEMM over them in integers is exact wherever the float32 one is: no rounding happens in either.
// ONNX Runtime's fast integer GEMM (MLAS) takes A as uint8 and B as int8, so A tiles are shifted
// by +128 and the graph's zero point takes the 128 back off inside the kernel. Tiles are turned
// into this form once (the agent caches them so), then packed by plain byte copies.

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

/**
 * An A tile as the 8-bit kernel takes it: uint8 a + 128. `TypedArray.set` narrows each float to
 * int8 (exact for integers in range), then the top bit of every byte is flipped, which adds 128.
 */
export function int8OperandA(tile: Float32Array): Uint8Array {
  const bytes = new Uint8Array(tile.length);
  new Int8Array(bytes.buffer).set(tile);
  return offsetToUint8(bytes);
}

/** A B tile as the 8-bit kernel takes it: int8 b. */
export function int8OperandB(tile: Float32Array): Int8Array {
  const bytes = new Int8Array(tile.length);
  bytes.set(tile);
  return bytes;
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
