import { describe, expect, it } from "vitest";
import { ViewBuilder } from "./core/fixtures.test-helpers.js";
import { reduceReady } from "./core/view.js";
import { parseJob, parseTask } from "./manifest.js";
import { applyTaskRead } from "./rebuild.js";

const task = (over: Record<string, unknown> = {}) =>
  parseTask(
    {
      taskId: "m-0-0-0",
      state: "running",
      lastAttempt: 2,
      failures: 1,
      live: [{ attempt: 2, nodeId: null, startedAt: 50, deadlineAt: null, speculative: false }],
      output: null,
      ...over,
    },
    "t",
  )!;

describe("rebuild from manifest reads", () => {
  it("sets a task to the read state and skips events the read already reflects", () => {
    const b = new ViewBuilder().submit("j1", 128, 64);
    const job = b.view.jobs.get("j1")!;
    applyTaskRead(job, "m-0-0-0", task(), 100, 1000);
    const t = job.tasks.get("m-0-0-0")!;
    expect(t).toMatchObject({ lastAttempt: 2, failures: 1, lastFailureAt: 1000, asOf: 100 });
    expect([...t.live.keys()]).toEqual([2]);
    // completion read later at a higher index moves counters once
    applyTaskRead(
      job,
      "m-0-0-0",
      task({
        state: "done",
        live: [],
        output: { uri: "u", checksum: "00000000", bytes: 1, attempt: 2 },
      }),
      120,
      1000,
    );
    applyTaskRead(
      job,
      "m-0-0-0",
      task({
        state: "done",
        live: [],
        output: { uri: "u", checksum: "00000000", bytes: 1, attempt: 2 },
      }),
      110,
      1000,
    );
    expect(job.mapsDone).toBe(1);
    expect(t.completed?.attempt).toBe(2);
    applyTaskRead(
      job,
      "m-0-0-1",
      task({
        taskId: "m-0-0-1",
        state: "done",
        live: [],
        output: { uri: "u", checksum: "00000000", bytes: 1, attempt: 1 },
      }),
      121,
      1000,
    );
    expect(reduceReady(job, 0, 0)).toBe(true);
    // a reset seen by a read undoes the count
    applyTaskRead(
      job,
      "m-0-0-1",
      task({ taskId: "m-0-0-1", state: "pending", live: [] }),
      130,
      1000,
    );
    expect(reduceReady(job, 0, 0)).toBe(false);
  });

  it("fails on an incompatible manifest shape with the field path", () => {
    expect(() =>
      parseJob({ jobId: "j", state: "running", spec: { n: 1 }, counts: {} }, "jobs/0"),
    ).toThrow(/manifest read jobs\/0\/spec\/tile: must be a number/);
    expect(() =>
      parseTask({ taskId: "m-0-0-0", state: "done", lastAttempt: 1, failures: 0 }, "t"),
    ).toThrow(/t\/live: must be an array/);
  });
});
