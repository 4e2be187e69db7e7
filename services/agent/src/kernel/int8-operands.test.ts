import { describe, expect, it } from "vitest";
import { offsetToUint8, packInt8SideBySide, packInt8Stacked } from "./int8-operands.js";

describe("8-bit map operands", () => {
  // 2×2 tiles of exact-mode integers, negative ones included.
  const tiles = [Float32Array.of(-79, 0, 1, 79), Float32Array.of(-1, -45, 45, 2)];

  it("packs A side by side as a + 128 (uint8), whatever the element's sign", () => {
    expect(Array.from(packInt8SideBySide(tiles, 2))).toEqual(
      [-79, 0, -1, -45, 1, 79, 45, 2].map((v) => v + 128),
    );
  });

  it("stacks B as int8, into a given buffer", () => {
    const into = new Int8Array(8).fill(99);
    expect(packInt8Stacked(tiles, 2, into)).toBe(into);
    expect(Array.from(into)).toEqual([-79, 0, 1, 79, -1, -45, 45, 2]);
  });

  it("shifts every byte of an unaligned, odd-length view and nothing outside it", () => {
    const buffer = new ArrayBuffer(16);
    const all = new Int8Array(buffer);
    all.set(Int8Array.from({ length: 16 }, (_, i) => i * 17 - 128));
    const view = new Uint8Array(buffer, 3, 11); // bytes 3..13: head, two words, tail
    offsetToUint8(view);
    const got = Array.from(new Int8Array(buffer));
    for (let i = 0; i < 16; i++) {
      const x = i * 17 - 128;
      expect(got[i], `byte ${i}`).toBe(i >= 3 && i < 14 ? ((x + 128) << 24) >> 24 : x);
    }
    expect(Array.from(view)).toEqual(Array.from({ length: 11 }, (_, i) => (i + 3) * 17));
  });
});
