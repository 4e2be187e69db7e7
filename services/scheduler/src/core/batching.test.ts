import { describe, expect, it } from "vitest";
import { groupIntoBatches } from "./batching.js";

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
