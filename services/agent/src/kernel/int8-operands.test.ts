import { describe, expect, it } from "vitest";
import { int8OperandA, int8OperandB, offsetToUint8 } from "./int8-operands.js";
import { packSideBySide, packStacked } from "./pack-inner.js";

describe("8-bit map operands", () => {
  // 2×2 tiles of exact-mode integers, negative ones included.
  const tiles = [Float32Array.of(-79, 0, 1, 79), Float32Array.of(-1, -45, 45, 2)];

  it("turns an A tile into uint8 a + 128 and a B tile into int8, whatever the element's sign", () => {
    expect(Array.from(int8OperandA(tiles[0] as Float32Array))).toEqual([49, 128, 129, 207]);
    expect(Array.from(int8OperandB(tiles[1] as Float32Array))).toEqual([-1, -45, 45, 2]);
  });

  it("packs them in the float layout: A side by side, B stacked", () => {
    expect(Array.from(packSideBySide(tiles.map(int8OperandA), 2, new Uint8Array(8)))).toEqual(
      [-79, 0, -1, -45, 1, 79, 45, 2].map((v) => v + 128),
    );
    expect(Array.from(packStacked(tiles.map(int8OperandB), 2, new Int8Array(8)))).toEqual([
      -79, 0, 1, 79, -1, -45, 45, 2,
    ]);
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
