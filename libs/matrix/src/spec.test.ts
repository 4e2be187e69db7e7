import { describe, expect, it } from "vitest";
import { JobSpecError, MatrixErrorCode } from "./errors.js";
import {
  AUTO_MAP_OPERAND_ELEMENTS,
  autoKPerMap,
  exactElementBound,
  validateJobSpec,
} from "./spec.js";

function fieldOf(value: unknown): string {
  try {
    validateJobSpec(value);
  } catch (err) {
    expect(err).toBeInstanceOf(JobSpecError);
    expect((err as JobSpecError).code).toBe(MatrixErrorCode.JobSpecInvalid);
    return (err as JobSpecError).field;
  }
  throw new Error("expected validateJobSpec to throw");
}

describe("validateJobSpec", () => {
  const good = { n: 1024, tile: 256, mode: "exact", seed: 42 } as const;

  it("accepts a valid spec and drops envelope fields", () => {
    expect(validateJobSpec({ ...good, v: 1, extra: "x" })).toEqual(good);
    expect(validateJobSpec({ n: 2 ** 20, tile: 8192, mode: "float", seed: 0xffffffff }).n).toBe(
      2 ** 20,
    );
    expect(validateJobSpec({ ...good, mode: "empty" })).toEqual({ ...good, mode: "empty" });
  });

  it("names the offending field", () => {
    expect(fieldOf(null)).toBe("/");
    expect(fieldOf([1])).toBe("/");
    expect(fieldOf({ ...good, n: "1024" })).toBe("/n");
    expect(fieldOf({ ...good, n: 1.5 })).toBe("/n");
    expect(fieldOf({ ...good, n: 0 })).toBe("/n");
    expect(fieldOf({ ...good, n: 2 ** 21, tile: 8192 })).toBe("/n");
    expect(fieldOf({ ...good, tile: 48 })).toBe("/tile");
    expect(fieldOf({ ...good, tile: 8 })).toBe("/tile");
    expect(fieldOf({ ...good, n: 32768, tile: 16384 })).toBe("/tile");
    expect(fieldOf({ ...good, n: 1000, tile: 16 })).toBe("/tile");
    expect(fieldOf({ ...good, mode: "fast" })).toBe("/mode");
    expect(fieldOf({ ...good, seed: -1 })).toBe("/seed");
    expect(fieldOf({ ...good, seed: 2 ** 32 })).toBe("/seed");
    expect(fieldOf({ ...good, seed: undefined })).toBe("/seed");
  });

  it("explains the reason in the message", () => {
    expect(() => validateJobSpec({ ...good, tile: 48 })).toThrow(
      "job spec: /tile: must be a power of two between 16 and 8192",
    );
    expect(() => validateJobSpec({ ...good, n: 1000, tile: 16 })).toThrow("must divide n");
  });

  it("keeps kPerMap when it divides n/tile, drops it when 1, refuses it otherwise", () => {
    expect(validateJobSpec({ ...good, kPerMap: 2 })).toEqual({ ...good, kPerMap: 2 });
    expect(validateJobSpec({ ...good, kPerMap: 4 })).toEqual({ ...good, kPerMap: 4 });
    // 1 is the default: the canonical spec omits it, so old and new specs compare equal.
    expect(validateJobSpec({ ...good, kPerMap: 1 })).toEqual(good);
    expect(fieldOf({ ...good, kPerMap: 3 })).toBe("/kPerMap");
    expect(fieldOf({ ...good, kPerMap: 8 })).toBe("/kPerMap");
    expect(fieldOf({ ...good, kPerMap: 0 })).toBe("/kPerMap");
    expect(fieldOf({ ...good, kPerMap: "2" })).toBe("/kPerMap");
    expect(() => validateJobSpec({ ...good, kPerMap: 3 })).toThrow(
      "job spec: /kPerMap: must divide the tiles per side n/tile (4)",
    );
    // At tile 2048 a packed map operand holds at most 16 inner tiles (2^26 float32 elements).
    expect(
      validateJobSpec({ n: 65536, tile: 2048, mode: "exact", seed: 1, kPerMap: 16 }).kPerMap,
    ).toBe(16);
    expect(() =>
      validateJobSpec({ n: 65536, tile: 2048, mode: "exact", seed: 1, kPerMap: 32 }),
    ).toThrow("/kPerMap: kPerMap·tile² = 134217728 exceeds 67108864");
  });
});

describe("exactElementBound", () => {
  it("is the largest m with n·m² < 2^24 for every power-of-two n and some others", () => {
    const ns = [16, 17, 100, 1000, 4096, 65535, 131072, 2 ** 20];
    for (let p = 4; p <= 20; p++) ns.push(2 ** p);
    for (const n of ns) {
      const m = exactElementBound(n);
      expect(m).toBeGreaterThanOrEqual(1);
      expect(n * m * m).toBeLessThanOrEqual(2 ** 24 - 1);
      expect(n * (m + 1) * (m + 1)).toBeGreaterThan(2 ** 24 - 1);
    }
    expect(exactElementBound(131072)).toBe(11);
    expect(exactElementBound(2 ** 20)).toBe(3);
  });
});

describe("autoKPerMap", () => {
  it("picks the largest divisor of n/tile whose packed operand stays within 2^24 elements", () => {
    expect(autoKPerMap(8192, 1024)).toBe(8); // 8·2^20 = 2^23
    expect(autoKPerMap(8192, 2048)).toBe(4); // 4·2^22 = 2^24
    expect(autoKPerMap(16384, 1024)).toBe(16); // 16·2^20 = 2^24
    expect(autoKPerMap(32768, 1024)).toBe(16); // 32 would pass the bound
    expect(autoKPerMap(8192, 4096)).toBe(1); // one tile is already 2^24
    expect(autoKPerMap(1024, 1024)).toBe(1);
    expect(autoKPerMap(256, 64)).toBe(4);
    // Divisors only: K = 12 at tile 1024 allows ≤ 16, and 12 divides itself; K = 24 → 12.
    expect(autoKPerMap(12 * 1024, 1024)).toBe(12);
    expect(autoKPerMap(24 * 1024, 1024)).toBe(12);
  });

  it("always yields a spec validateJobSpec accepts", () => {
    for (const [n, tile] of [
      [8192, 1024],
      [8192, 2048],
      [6144, 2048],
      [4096, 4096],
      [1 << 20, 8192],
    ] as const) {
      const d = autoKPerMap(n, tile);
      expect(d * tile * tile).toBeLessThanOrEqual(Math.max(AUTO_MAP_OPERAND_ELEMENTS, tile * tile));
      expect(validateJobSpec({ n, tile, mode: "exact", seed: 1, kPerMap: d }).n).toBe(n);
    }
  });
});
