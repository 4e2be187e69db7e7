import { describe, expect, it } from "vitest";
import { FsmOptionsError } from "./errors.js";
import { FailureDetector, phiOf } from "./failure-detector.js";
import { prng } from "./fsm.test-helpers.js";

/** Feeds `count` heartbeats every `period` ms ± jitter, returns the last arrival time. */
function feed(
  fd: FailureDetector,
  nodeId: string,
  count: number,
  period = 1000,
  jitter = 0,
  seed = 1,
): number {
  const rnd = prng(seed);
  let t = 10_000;
  for (let i = 0; i < count; i++) {
    t += period + (rnd() * 2 - 1) * jitter;
    fd.heartbeat(nodeId, t);
  }
  return t;
}

/** First time (10 ms steps) at which the node is suspected, relative to its last heartbeat. */
function detectionDelay(fd: FailureDetector, nodeId: string, last: number): number {
  for (let dt = 0; dt <= 10_000; dt += 10) {
    if (fd.suspects(last + dt).some((s) => s.nodeId === nodeId)) return dt;
  }
  return Number.POSITIVE_INFINITY;
}

describe("phi-accrual failure detector", () => {
  it("φ grows with silence and is ~0 right after a heartbeat", () => {
    expect(phiOf(0, 1000, 100)).toBeLessThan(0.01);
    expect(phiOf(1000, 1000, 100)).toBeCloseTo(Math.log10(2), 3);
    expect(phiOf(1500, 1000, 100)).toBeGreaterThan(phiOf(1400, 1000, 100));
    // 5.61 σ above the mean is φ ≈ 8 (P ≈ 1e-8).
    expect(phiOf(1561, 1000, 100)).toBeCloseTo(8, 0);
    expect(phiOf(10_000, 1000, 100)).toBe(Number.POSITIVE_INFINITY);
  });

  it("declares a node that stops sending 1 s heartbeats failed within 2 s", () => {
    const fd = new FailureDetector();
    const last = feed(fd, "a", 30, 1000, 20);
    const delay = detectionDelay(fd, "a", last);
    expect(delay).toBeGreaterThan(1000);
    expect(delay).toBeLessThanOrEqual(2000);
    const s = fd.suspects(last + delay)[0];
    expect(s?.reason).toMatch(/^φ \d+\.\d >= 8 after \d+ ms of silence/);
    expect(fd.suspectAt("a")).toBeGreaterThan(last + delay - 10);
    expect(fd.suspectAt("a")).toBeLessThanOrEqual(last + delay);
  });

  it("caps detection at maxSilenceMs even after a jittery history widened the distribution", () => {
    const fd = new FailureDetector();
    const last = feed(fd, "a", 50, 1000, 600, 3);
    const delay = detectionDelay(fd, "a", last);
    expect(delay).toBeLessThanOrEqual(1800);
    expect(fd.suspects(last + delay)[0]?.reason).toMatch(/maxSilence 1800 ms/);
  });

  it("detects within 2 s from the very first heartbeat (no history yet)", () => {
    const fd = new FailureDetector();
    fd.heartbeat("new", 5000);
    const delay = detectionDelay(fd, "new", 5000);
    expect(delay).toBeLessThanOrEqual(2000);
  });

  it("does not suspect a node whose heartbeats keep arriving with normal jitter", () => {
    const fd = new FailureDetector();
    const rnd = prng(9);
    let t = 0;
    for (let i = 0; i < 500; i++) {
      const next = t + 1000 + (rnd() * 2 - 1) * 100;
      // Check just before each arrival: the node is late by at most the jitter.
      expect(fd.suspects(next - 1)).toEqual([]);
      fd.heartbeat("steady", next);
      t = next;
    }
    expect(fd.isAvailable("steady", t + 1100)).toBe(true);
  });

  it("only suspects the silent node, ignores reordered arrivals, and forgets removed nodes", () => {
    const fd = new FailureDetector();
    let t = 0;
    for (let i = 0; i < 20; i++) {
      t += 1000;
      fd.heartbeat("a", t);
      fd.heartbeat("b", t);
    }
    fd.heartbeat("a", t - 500); // late duplicate: no effect
    for (let i = 0; i < 3; i++) {
      t += 1000;
      fd.heartbeat("b", t);
    }
    expect(fd.suspects(t).map((s) => s.nodeId)).toEqual(["a"]);
    expect(fd.nextSuspectAt()).toBe(fd.suspectAt("a"));
    fd.remove("a");
    expect(fd.suspects(t)).toEqual([]);
    expect(fd.phi("a", t)).toBe(0);
    expect(fd.watched()).toEqual(["b"]);
  });

  it("resume: the observer's own outage is not the nodes' silence, and leaves their history as it was", () => {
    const fd = new FailureDetector();
    const last = feed(fd, "a", 20);
    const before = detectionDelay(fd, "a", last);
    // The observer was cut off for 5 s: without resume, "a" would be suspected at once.
    expect(fd.suspects(last + 5_000).map((s) => s.nodeId)).toEqual(["a"]);
    fd.resume(last + 5_000);
    expect(fd.suspects(last + 5_000)).toEqual([]);
    // Silence counts from the resume, with the same sensitivity as before the outage.
    expect(detectionDelay(fd, "a", last + 5_000)).toBe(before);
  });

  it("rejects nonsensical options", () => {
    expect(() => new FailureDetector({ threshold: 0 })).toThrow(FsmOptionsError);
    expect(() => new FailureDetector({ windowSize: 2.5 })).toThrow(/windowSize/);
  });
});
