import { describe, expect, it } from "vitest";
import { packSideBySide, packStacked } from "./pack-inner.js";

describe("packing a map's inner tiles", () => {
  // 2×2 tiles whose elements name (tile, row, col) as 100·x + 10·r + c.
  const tiles = [0, 1, 2].map((x) => Float32Array.from([0, 1, 10, 11], (v) => 100 * x + v));

  it("puts A tiles side by side: row r is row r of each tile in turn", () => {
    expect(Array.from(packSideBySide(tiles, 2))).toEqual([
      0, 1, 100, 101, 200, 201, 10, 11, 110, 111, 210, 211,
    ]);
  });

  it("stacks B tiles one after another, into a given buffer", () => {
    const into = new Float32Array(12).fill(-1);
    expect(packStacked(tiles, 2, into)).toBe(into);
    expect(Array.from(into)).toEqual([0, 1, 10, 11, 100, 101, 110, 111, 200, 201, 210, 211]);
  });
});
