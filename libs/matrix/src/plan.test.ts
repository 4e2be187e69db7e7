import { describe, expect, it } from "vitest";
import { MatrixErrorCode, TaskIdError } from "./errors.js";
import { thrown } from "./errors.test-helpers.js";
import { JobPlan, planJob } from "./plan.js";
import { mapTaskId, parseTaskId, reduceTaskId } from "./task-id.js";

describe("JobPlan with kPerMap = 2 (each map sums two inner tiles)", () => {
  const plan = planJob({ n: 64, tile: 16, mode: "exact", seed: 1, kPerMap: 2 });

  it("has K²·K/2 maps, each reduce summing K/2 partials", () => {
    expect(plan.tilesPerSide).toBe(4);
    expect(plan.kPerMap).toBe(2);
    expect(plan.partialsPerReduce).toBe(2);
    expect(plan.mapCount).toBe(32);
    expect(plan.reduceCount).toBe(16);
  });

  it("numbers maps by group, covers every inner tile of every output tile exactly once", () => {
    const covered = new Map<string, number[]>();
    let expected = 0;
    for (const m of plan.maps()) {
      expect(m.index).toBe(expected++);
      expect(m.k).toBeLessThan(2);
      expect(plan.taskById(m.taskId)).toEqual(m);
      const cell = `${m.i}-${m.j}`;
      covered.set(cell, [...(covered.get(cell) ?? []), ...plan.innerTilesOfMap(m)]);
    }
    expect(covered.size).toBe(16);
    for (const ks of covered.values()) expect(ks).toEqual([0, 1, 2, 3]);
    expect(plan.innerTilesOfMap({ kind: "map", i: 0, j: 0, k: 1 })).toEqual([2, 3]);
    expect([...plan.mapsOfReduce(2, 3)].map((m) => m.taskId)).toEqual(["m-2-3-0", "m-2-3-1"]);
  });

  it("refuses a group index past K/kPerMap, naming the bound", () => {
    const e = thrown(() => plan.taskById("m-0-0-2"));
    expect(e).toBeInstanceOf(TaskIdError);
    expect((e as Error).message).toContain("outside 0..1 (K = 4, 2 inner tiles per map)");
    expect(() => plan.mapIndex(0, 0, 2)).toThrow("outside 0..1");
    expect(parseTaskId("m-0-0-3", 4).kind).toBe("map"); // without kPerMap, k < K is fine
  });
});

describe("JobPlan on a small job", () => {
  const plan = planJob({ n: 64, tile: 16, mode: "exact", seed: 1 });

  it("counts K³ maps and K² reduces", () => {
    expect(plan.tilesPerSide).toBe(4);
    expect(plan.mapCount).toBe(64);
    expect(plan.reduceCount).toBe(16);
    expect(plan.taskCount).toBe(80);
  });

  it("enumerates every map exactly once, with ordinals matching coordinates", () => {
    const seen = new Set<string>();
    let expected = 0;
    for (const m of plan.maps()) {
      expect(m.index).toBe(expected++);
      expect(plan.mapIndex(m.i, m.j, m.k)).toBe(m.index);
      expect(m.taskId).toBe(`m-${m.i}-${m.j}-${m.k}`);
      expect(plan.taskById(m.taskId)).toEqual(m);
      seen.add(m.taskId);
    }
    expect(seen.size).toBe(64);
    const reduces = [...plan.reduces()];
    expect(reduces.map((r) => r.taskId)).toEqual(
      [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3].map((j) => `r-${i}-${j}`)),
    );
    expect(reduces.every((r) => plan.reduceTask(r.index).taskId === r.taskId)).toBe(true);
  });

  it("links maps and reduces both ways", () => {
    const maps = [...plan.mapsOfReduce(2, 3)];
    expect(maps.map((m) => m.taskId)).toEqual(["m-2-3-0", "m-2-3-1", "m-2-3-2", "m-2-3-3"]);
    for (const m of maps) expect(plan.reduceOfMap(m).taskId).toBe("r-2-3");
    // Maps of one reduce are contiguous ordinals: a scheduler can release a whole reduce's inputs.
    expect(maps.map((m) => m.index)).toEqual([44, 45, 46, 47]);
  });

  it("supports ranged iteration", () => {
    expect([...plan.maps(62)].map((m) => m.taskId)).toEqual(["m-3-3-2", "m-3-3-3"]);
    expect([...plan.reduces(1, 3)].map((r) => r.taskId)).toEqual(["r-0-1", "r-0-2"]);
  });

  it("rejects out-of-range ordinals and coordinates with a typed error", () => {
    for (const f of [
      () => plan.mapTask(64),
      () => plan.mapTask(-1),
      () => plan.mapTask(1.5),
      () => plan.reduceTask(16),
      () => plan.mapIndex(0, 4, 0),
      () => plan.reduceIndex(-1, 0),
    ]) {
      expect(thrown(f).code).toBe(MatrixErrorCode.TaskOutOfRange);
    }
    expect(thrown(() => plan.taskById("m-0-0-4")).code).toBe(MatrixErrorCode.TaskIdInvalid);
  });

  it("validates the spec it is given", () => {
    expect(thrown(() => planJob({ n: 64, tile: 24, mode: "exact", seed: 1 })).code).toBe(
      MatrixErrorCode.JobSpecInvalid,
    );
  });
});

describe("task ids", () => {
  it("round-trip", () => {
    expect(mapTaskId(1, 22, 333)).toBe("m-1-22-333");
    expect(reduceTaskId(0, 9)).toBe("r-0-9");
    expect(parseTaskId("m-1-22-333")).toEqual({ kind: "map", i: 1, j: 22, k: 333 });
    expect(parseTaskId("r-0-9", 10)).toEqual({ kind: "reduce", i: 0, j: 9 });
  });

  it("reject non-canonical or malformed ids", () => {
    for (const bad of [
      "",
      "m-1-2",
      "r-1-2-3",
      "m-01-2-3",
      "m--1-2-3",
      "x-1-2",
      "r-1-2 ",
      "m-1-2-3-",
    ]) {
      expect(() => parseTaskId(bad)).toThrow(TaskIdError);
    }
    expect(() => parseTaskId("r-3-10", 10)).toThrow("outside the grid");
  });
});

describe("JobPlan at N = 131072 (64 GiB per input)", () => {
  it("plans 2,097,152 maps lazily: touches first/last/random tasks without materialising", () => {
    const heapBefore = process.memoryUsage().heapUsed;
    const plan = new JobPlan({ n: 131072, tile: 1024, mode: "exact", seed: 3 });
    expect(plan.tilesPerSide).toBe(128);
    expect(plan.mapCount).toBe(2_097_152);
    expect(plan.reduceCount).toBe(16_384);

    expect(plan.mapTask(0).taskId).toBe("m-0-0-0");
    expect(plan.mapTask(plan.mapCount - 1).taskId).toBe("m-127-127-127");
    expect(plan.reduceTask(plan.reduceCount - 1).taskId).toBe("r-127-127");
    let x = 12345;
    for (let s = 0; s < 10_000; s++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const index = x % plan.mapCount;
      const m = plan.mapTask(index);
      expect(plan.mapIndex(m.i, m.j, m.k)).toBe(index);
    }
    const gen = plan.maps(1_000_000);
    expect(gen.next().value?.index).toBe(1_000_000);

    // Nothing list-shaped hangs off the plan: only the spec and four numbers.
    for (const value of Object.values(plan)) {
      expect(Array.isArray(value) || ArrayBuffer.isView(value) || value instanceof Map).toBe(false);
    }
    // 2M task objects would need hundreds of MB; the plan and the probes need well under 32 MB.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
  });
});
