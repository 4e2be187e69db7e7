import { describe, expect, it } from "vitest";
import { ViewBuilder } from "./fixtures.test-helpers.js";
import { DEFAULT_RETRY } from "./retry.js";
import { runnableTasks } from "./runnable.js";

const ids = (b: ViewBuilder, now = 0, skip = new Set<string>()) =>
  [...runnableTasks(b.view.jobs.get("j1")!, now, DEFAULT_RETRY, skip)].map((r) => r.taskId);

describe("runnable tasks", () => {
  it("offers maps row by row (i, j, then k) and no reduce before its partials", () => {
    const b = new ViewBuilder().submit("j1", 128, 64);
    expect(ids(b)).toEqual([
      "m-0-0-0",
      "m-0-0-1",
      "m-0-1-0",
      "m-0-1-1",
      "m-1-0-0",
      "m-1-0-1",
      "m-1-1-0",
      "m-1-1-1",
    ]);
    expect(ids(b).some((id) => id.startsWith("r-"))).toBe(false);
  });

  it("offers a reduce, first, once every partial of its row completed", () => {
    const b = new ViewBuilder().submit("j1", 128, 64);
    b.start("j1", "m-0-1-0", 1, 0).complete("j1", "m-0-1-0", 1, 1);
    expect(ids(b)).not.toContain("r-0-1");
    b.start("j1", "m-0-1-1", 1, 2).complete("j1", "m-0-1-1", 1, 3);
    const list = ids(b);
    expect(list[0]).toBe("r-0-1");
    expect(list).not.toContain("m-0-1-0");
  });

  it("with kPerMap = 2 offers K/2 maps per output tile and a reduce once those completed", () => {
    const b = new ViewBuilder().submit("j1", 256, 64, 4, 0, 2);
    expect(ids(b).slice(0, 5)).toEqual(["m-0-0-0", "m-0-0-1", "m-0-1-0", "m-0-1-1", "m-0-2-0"]);
    expect(ids(b)).toHaveLength(32);
    expect(ids(b).some((id) => id.endsWith("-2") && id.startsWith("m-"))).toBe(false);
    b.completeRow("j1", 0, 1, 0);
    const list = ids(b);
    expect(list[0]).toBe("r-0-1");
    expect(list).toHaveLength(31);
  });

  it("never offers live, completed, permanently failed or in-flight tasks", () => {
    const b = new ViewBuilder().submit("j1", 128, 64);
    b.start("j1", "m-0-0-0", 1, 0);
    b.start("j1", "m-0-0-1", 1, 0).complete("j1", "m-0-0-1", 1, 1);
    b.start("j1", "m-0-1-0", 1, 0).apply(1, {
      category: "task",
      type: "failed",
      jobId: "j1",
      taskId: "m-0-1-0",
      reason: "x",
      failures: 4,
    });
    const list = ids(b, 0, new Set(["m-1-1-1"]));
    expect(list).not.toContain("m-0-0-0");
    expect(list).not.toContain("m-0-0-1");
    expect(list).not.toContain("m-0-1-0");
    expect(list).not.toContain("m-1-1-1");
    expect(list).toContain("m-0-1-1");
  });

  it("holds a failed task back until its backoff passed, then offers it before fresh maps with the next attempt number", () => {
    const b = new ViewBuilder().submit("j1", 128, 64);
    b.start("j1", "m-1-1-1", 1, 0).fail("j1", "m-1-1-1", 1, 1000);
    expect(ids(b, 1000 + DEFAULT_RETRY.baseMs - 1)).not.toContain("m-1-1-1");
    const due = [
      ...runnableTasks(b.view.jobs.get("j1")!, 1000 + DEFAULT_RETRY.baseMs, DEFAULT_RETRY),
    ];
    expect(due[0]).toMatchObject({ taskId: "m-1-1-1", attempt: 2, why: "retry" });
  });

  it("does not offer a reset partial whose reduce already completed", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).completeRow("j1", 0, 0, 0);
    b.start("j1", "r-0-0", 1, 20).complete("j1", "r-0-0", 1, 30);
    b.apply(40, {
      category: "task",
      type: "reset",
      jobId: "j1",
      taskId: "m-0-0-1",
      attempt: 1,
      kind: "map",
      reason: "corrupt",
      resets: 1,
      jobState: "running",
    });
    expect(ids(b, 100)).not.toContain("m-0-0-1");
    const c = new ViewBuilder().submit("j1", 128, 64).completeRow("j1", 0, 0, 0);
    c.apply(40, {
      category: "task",
      type: "reset",
      jobId: "j1",
      taskId: "m-0-0-1",
      attempt: 1,
      kind: "map",
      reason: "corrupt",
      resets: 1,
      jobState: "running",
    });
    expect(ids(c, 100)[0]).toBe("m-0-0-1");
    expect(ids(c, 100)).not.toContain("r-0-0");
  });

  it("is lazy: a 2-million-map job yields its first tasks without enumerating the rest", () => {
    const b = new ViewBuilder().submit("j1", 1 << 17, 1024); // 128 tiles per side
    const it = runnableTasks(b.view.jobs.get("j1")!, 0, DEFAULT_RETRY);
    const first = [it.next().value?.taskId, it.next().value?.taskId];
    expect(first).toEqual(["m-0-0-0", "m-0-0-1"]);
  });
});
