import { describe, expect, it } from "vitest";
import { joinRefusal, nextFeatureLevel } from "./feature-level.js";

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

describe("joinRefusal", () => {
  it("refuses a new member below the committed level, naming both levels", () => {
    expect(joinRefusal(4, 2, 1)?.message).toBe(
      "peer 4 supports manifest feature level 1, the cluster runs at 2: upgrade it (or raise its --feature-level) before adding it",
    );
    expect(joinRefusal(4, 2, 0)?.code).toBe("TESSERA_E_CONSENSUS_FEATURE_LEVEL");
  });

  it("lets through a member at or above the level, or one that did not answer", () => {
    expect(joinRefusal(4, 2, 2)).toBeUndefined();
    expect(joinRefusal(4, 1, 0)).toBeUndefined();
    expect(joinRefusal(4, 2, undefined)).toBeUndefined();
  });
});
