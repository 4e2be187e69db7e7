import { describe, expect, it } from "vitest";
import { DurationStats, isStraggler, learn, overran, percentile } from "./deadlines.js";

const policy = {
  minSamples: 3,
  deadlineFactor: 4,
  minDeadlineMs: 1000,
  initialDeadlineMs: 60_000,
  speculationFactor: 1.5,
  minSpeculationMs: 100,
};

describe("deadlines and stragglers", () => {
  it("nearest-rank p75", () => {
    expect(percentile([], 0.75)).toBeUndefined();
    expect(percentile([4, 1, 3, 2], 0.75)).toBe(3);
    expect(percentile([10], 0.75)).toBe(10);
  });

  it("uses the initial deadline and no speculation until enough siblings completed", () => {
    expect(learn([100, 200], policy)).toEqual({
      p75: undefined,
      deadlineMs: 60_000,
      speculateAfterMs: undefined,
    });
  });

  it("learns p75 × factor with floors", () => {
    const l = learn([1000, 1000, 2000, 4000], policy);
    expect(l.p75).toBe(2000);
    expect(l.deadlineMs).toBe(8000);
    expect(l.speculateAfterMs).toBe(3000);
    expect(learn([1, 1, 1], policy)).toMatchObject({ deadlineMs: 1000, speculateAfterMs: 100 });
  });

  it("flags stragglers at 1.5 × p75 and overruns at the deadline", () => {
    const l = learn([1000, 1000, 2000, 4000], policy);
    expect(isStraggler({ startedAt: 0 }, l, 3000)).toBe(false);
    expect(isStraggler({ startedAt: 0 }, l, 3001)).toBe(true);
    expect(overran({ startedAt: 0 }, l, 8000)).toBe(false);
    expect(overran({ startedAt: 0 }, l, 8001)).toBe(true);
    expect(isStraggler({ startedAt: 0 }, learn([], { ...policy, speculationFactor: 0 }), 1e9)).toBe(
      false,
    );
  });

  it("keeps a bounded window of recent samples per job and kind", () => {
    const s = new DurationStats(3);
    for (const d of [1, 2, 3, 4]) s.add("j", "map", d);
    s.add("j", "reduce", 9);
    expect(s.get("j", "map")).toEqual([2, 3, 4]);
    expect(s.get("j", "reduce")).toEqual([9]);
    s.dropJob("j");
    expect(s.get("j", "map")).toEqual([]);
  });

  it("re-learns p75 on every sample while few, then once a 32nd of the window is new", () => {
    const s = new DurationStats(256);
    expect(s.learned("j", "map", policy)).toEqual(learn([], policy));
    for (let d = 1; d <= 40; d++) {
      s.add("j", "map", d);
      if (d < 32) expect(s.learned("j", "map", policy)).toEqual(learn(s.get("j", "map"), policy));
    }
    for (let d = 41; d <= 256; d++) s.add("j", "map", 1000);
    const fresh = s.learned("j", "map", policy);
    expect(fresh).toEqual(learn(s.get("j", "map"), policy));
    // 7 more samples (< 256/32) keep the cached value; the 8th refreshes it.
    for (let n = 0; n < 7; n++) s.add("j", "map", 5000);
    expect(s.learned("j", "map", policy)).toBe(fresh);
    s.add("j", "map", 5000);
    expect(s.learned("j", "map", policy)).toEqual(learn(s.get("j", "map"), policy));
    // Another policy is never answered from the cache.
    const strict = { ...policy, deadlineFactor: 8 };
    expect(s.learned("j", "map", strict)).toEqual(learn(s.get("j", "map"), strict));
  });
});
