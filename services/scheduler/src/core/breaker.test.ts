import { describe, expect, it } from "vitest";
import { isStorageOutage, StorageBreaker } from "./breaker.js";

const policy = { threshold: 3, windowMs: 1000, cooldownMs: 500, maxCooldownMs: 1500 };
const OUTAGE = "TESSERA_E_STORAGE_UNAVAILABLE: ECONNREFUSED";

describe("storage circuit breaker", () => {
  it("opens after N storage failures within the window, not for spread-out or non-storage failures", () => {
    const b = new StorageBreaker(policy);
    b.recordFailure(0, OUTAGE);
    b.recordFailure(600, OUTAGE);
    b.recordFailure(1200, OUTAGE); // the first fell out of the window
    expect(b.state(1200)).toBe("closed");
    b.recordFailure(1300, "TESSERA_E_STORAGE_CHECKSUM: corrupt tile"); // data, not an outage
    b.recordFailure(1300, "TESSERA_E_AGENT_KERNEL: bug");
    expect(b.state(1300)).toBe("closed");
    b.recordFailure(1400, OUTAGE);
    expect(b.state(1400)).toBe("open");
    expect(b.allowPlacement(1400, "x")).toBe(false);
    expect(b.opens).toBe(1);
  });

  it("half-opens after the cooldown and lets exactly one probe through; success closes", () => {
    const b = new StorageBreaker(policy);
    for (const t of [0, 1, 2]) b.recordFailure(t, OUTAGE);
    expect(b.state(501)).toBe("open"); // opened at t=2, cooldown 500
    expect(b.state(502)).toBe("half-open");
    expect(b.allowPlacement(502, "probe")).toBe(true);
    expect(b.allowPlacement(503, "other")).toBe(false);
    b.recordSuccess(600, "other-straggler");
    expect(b.state(600)).toBe("half-open");
    b.recordSuccess(700, "probe");
    expect(b.state(700)).toBe("closed");
    expect(b.allowPlacement(701, "y")).toBe(true);
  });

  it("a failed probe re-opens with a doubled (capped) cooldown", () => {
    const b = new StorageBreaker(policy);
    for (const t of [0, 1, 2]) b.recordFailure(t, OUTAGE);
    expect(b.allowPlacement(600, "p1")).toBe(true);
    b.recordFailure(700, OUTAGE, "p1");
    expect(b.state(700)).toBe("open");
    expect(b.reopensAt()).toBe(1700);
    expect(b.state(1699)).toBe("open");
    expect(b.allowPlacement(1700, "p2")).toBe(true);
    b.recordFailure(1800, OUTAGE, "p2");
    expect(b.reopensAt()).toBe(1800 + 1500);
  });

  it("a probe whose proposal was rejected frees the slot for another probe", () => {
    const b = new StorageBreaker(policy);
    for (const t of [0, 1, 2]) b.recordFailure(t, OUTAGE);
    expect(b.allowPlacement(600, "p1")).toBe(true);
    b.cancelProbe("p1");
    expect(b.allowPlacement(601, "p2")).toBe(true);
  });

  it("classifies outages", () => {
    expect(isStorageOutage(OUTAGE)).toBe(true);
    expect(isStorageOutage("TESSERA_E_STORAGE_BACKEND: 503")).toBe(true);
    expect(isStorageOutage("TESSERA_E_STORAGE_NOT_FOUND")).toBe(false);
    expect(isStorageOutage(undefined)).toBe(false);
  });
});
