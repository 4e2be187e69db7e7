import { describe, expect, it } from "vitest";
import { nextFeatureLevel } from "./feature-level.js";

describe("nextFeatureLevel", () => {
  it("raises to the lowest level every member advertises", () => {
    expect(nextFeatureLevel(1, [2, 2, 2])).toBe(2);
    expect(nextFeatureLevel(1, [3, 2, 3])).toBe(2);
    expect(nextFeatureLevel(2, [3, 3, 3])).toBe(3);
  });

  it("waits while a member is silent, predates levels, or nothing is above the committed level", () => {
    expect(nextFeatureLevel(1, [2, undefined, 2])).toBeUndefined();
    // Proto3's default 0: a peer older than feature levels, i.e. level 1.
    expect(nextFeatureLevel(1, [2, 0, 2])).toBeUndefined();
    expect(nextFeatureLevel(2, [2, 2, 2])).toBeUndefined();
    expect(nextFeatureLevel(2, [1, 3, 3])).toBeUndefined();
    expect(nextFeatureLevel(1, [])).toBeUndefined();
  });
});
