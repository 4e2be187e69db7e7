import { describe, expect, it } from "vitest";
import { TransportArgumentError } from "./errors.js";
import {
  DelayQueue,
  NO_FAULTS,
  nextDueTime,
  resolveFaults,
  resolveFaultsConfig,
} from "./faults.js";

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("link faults", () => {
  it("validates settings and names the bad field", () => {
    expect(resolveFaults({ delayMs: 30 })).toEqual({ delayMs: 30, jitterMs: 0, lossRate: 0 });
    expect(() => resolveFaults({ lossRate: 1.5 })).toThrow(TransportArgumentError);
    expect(() => resolveFaults({ delayMs: -1 })).toThrow(/delayMs/);
    expect(() => resolveFaultsConfig({ links: { x: { delayMs: 1 } } })).toThrow(/links\.x/);
    const c = resolveFaultsConfig({
      default: { delayMs: 30, jitterMs: 5 },
      links: { "2": { lossRate: 1 } },
    });
    expect(c.links.get(2)).toEqual({ delayMs: 30, jitterMs: 5, lossRate: 1 });
  });

  it("never makes a message due before the one ahead of it, whatever the jitter", () => {
    const random = seeded(7);
    const q = new DelayQueue<number>(100_000);
    const f = { delayMs: 30, jitterMs: 25, lossRate: 0 };
    let now = 0;
    for (let i = 0; i < 10_000; i++) {
      now += random() * 3;
      expect(q.push(i, now, f, random)).toBe(true);
    }
    const out: number[] = [];
    for (let t = 0; out.length < 10_000; t += 1) out.push(...q.popDue(t));
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });

  it("adds the configured delay and stays within the jitter bounds", () => {
    const random = seeded(1);
    const f = { delayMs: 30, jitterMs: 5, lossRate: 0 };
    for (let i = 0; i < 1000; i++) {
      const due = nextDueTime(0, 1000, f, random);
      expect(due).toBeGreaterThanOrEqual(1025);
      expect(due).toBeLessThanOrEqual(1035);
    }
    expect(nextDueTime(0, 1000, NO_FAULTS, random)).toBe(1000);
  });

  it("refuses to grow past its capacity", () => {
    const q = new DelayQueue<number>(2);
    expect(q.push(1, 0, NO_FAULTS, Math.random)).toBe(true);
    expect(q.push(2, 0, NO_FAULTS, Math.random)).toBe(true);
    expect(q.push(3, 0, NO_FAULTS, Math.random)).toBe(false);
    expect(q.popDue(0)).toEqual([1, 2]);
  });
});
