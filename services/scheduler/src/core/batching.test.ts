import { describe, expect, it } from "vitest";
import {
  batchedPrefetch,
  groupIntoBatches,
  QUEUED_BATCHES_PER_NODE,
  travelsInBatches,
} from "./batching.js";

const start = (jobId: string, pool: string, n: number) => ({ jobId, pool, n });

describe("groupIntoBatches", () => {
  it("groups starts by job and pool, in first-seen order, keeping each group's order", () => {
    const starts = [
      start("a", "cpu", 1),
      start("b", "cpu", 2),
      start("a", "gpu", 3),
      start("a", "cpu", 4),
      start("b", "cpu", 5),
    ];
    expect(groupIntoBatches(starts, 64).map((g) => g.map((d) => d.n))).toEqual([
      [1, 4],
      [2, 5],
      [3],
    ]);
  });

  it("cuts a group at max and starts the next one", () => {
    const starts = Array.from({ length: 7 }, (_, n) => start("a", "cpu", n));
    expect(groupIntoBatches(starts, 3).map((g) => g.map((d) => d.n))).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6],
    ]);
    expect(groupIntoBatches(starts, 1)).toHaveLength(7);
    expect(groupIntoBatches([], 3)).toEqual([]);
  });

  it("refuses a max below 1", () => {
    expect(() => groupIntoBatches([start("a", "cpu", 0)], 0)).toThrow(/max: 0/);
  });
});

describe("which jobs are batched, and how much a node queues for them", () => {
  it("batches empty jobs only, decided from the spec", () => {
    expect(travelsInBatches({ mode: "empty" })).toBe(true);
    expect(travelsInBatches({ mode: "exact" })).toBe(false);
    expect(travelsInBatches({ mode: "float" })).toBe(false);
  });

  it("queues batches' worth under --prefetch auto and exactly a fixed --prefetch", () => {
    expect(batchedPrefetch({ windowMs: 50 }, 64)).toBe(QUEUED_BATCHES_PER_NODE * 64);
    expect(batchedPrefetch({ fixed: 3 }, 64)).toBe(3);
  });
});
