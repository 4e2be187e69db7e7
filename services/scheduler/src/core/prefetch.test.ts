import { describe, expect, it } from "vitest";
import { describePrefetch, MAX_AUTO_PREFETCH, prefetchFor } from "./prefetch.js";

describe("prefetch", () => {
  it("a fixed policy ignores slots and task time", () => {
    expect(prefetchFor({ fixed: 0 }, 4, 1)).toBe(0);
    expect(prefetchFor({ fixed: 3 }, 1, undefined)).toBe(3);
  });

  it("auto queues enough work to cover the window per slot, between 1 and the cap", () => {
    const auto = { windowMs: 50 };
    expect(prefetchFor(auto, 2, undefined)).toBe(1);
    expect(prefetchFor(auto, 2, 250)).toBe(1); // matmul tiles: one queued
    expect(prefetchFor(auto, 2, 40)).toBe(3);
    expect(prefetchFor(auto, 4, 25)).toBe(8);
    expect(prefetchFor(auto, 2, 0.05)).toBe(MAX_AUTO_PREFETCH); // empty tasks: capped
    expect(prefetchFor(auto, 2, 0)).toBe(MAX_AUTO_PREFETCH); // no division by zero
  });

  it("describes itself for logs", () => {
    expect(describePrefetch({ fixed: 2 })).toBe("2");
    expect(describePrefetch({ windowMs: 50 })).toBe("auto (window 50 ms)");
  });
});
