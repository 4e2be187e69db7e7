/**
 * Counter-based hashing: a value is a pure function of its coordinates (no sequential state),
 * so any element of any tile can be produced independently, on any machine, in any order.
 * All arithmetic is 32-bit (Math.imul, shifts) — no BigInt — so V8 keeps it in integer registers.
 *
 * Scheme: a 64-bit stream key (k0, k1) is derived once per (domain, seed, matrix, row) by
 * absorbing each word through a full-avalanche mixer; element `c` of that stream is
 *   h = triple32(lowbias32(c·φ + k0) ⊕ k1)
 * Both mixers and `c ↦ c·φ + k0` (φ odd) are bijections on 32 bits, so distinct counters in
 * one stream never collide, and the two independent key words decorrelate different streams.
 * Mixers: Chris Wellons' "hash prospector" lowbias32 and triple32 (public domain).
 */

export function lowbias32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

export function triple32(x: number): number {
  x ^= x >>> 17;
  x = Math.imul(x, 0xed5ad4bb);
  x ^= x >>> 11;
  x = Math.imul(x, 0xac4c1b51);
  x ^= x >>> 15;
  x = Math.imul(x, 0x31848bab);
  x ^= x >>> 14;
  return x >>> 0;
}

export const GOLDEN = 0x9e3779b9;

/** Stream key for a sequence of up to four 32-bit coordinates. */
export interface StreamKey {
  k0: number;
  k1: number;
}

export function streamKey(domain: number, a: number, b: number, c: number): StreamKey {
  let h = lowbias32(domain ^ 0x243f6a88);
  h = lowbias32(h ^ a);
  h = triple32(h ^ b);
  h = lowbias32(h ^ c);
  const k0 = h;
  const k1 = triple32(h ^ 0x85a308d3);
  return { k0, k1 };
}

/** Element `counter` of the stream with key (k0, k1), as a uint32. */
export function streamWord(k0: number, k1: number, counter: number): number {
  return triple32(lowbias32((Math.imul(counter, GOLDEN) + k0) | 0) ^ k1);
}
