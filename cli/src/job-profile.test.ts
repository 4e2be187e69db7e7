import { describe, expect, it } from "vitest";
import {
  COMPLETED_BATCH_MSG,
  COMPLETED_MSG,
  COMPLETION_LINES_GREP,
  coveredMs,
  formatProfile,
  type ItemTiming,
  itemTimingOf,
  itemTimingsOf,
  type JobTimes,
  profileJob,
} from "./job-profile.js";

const T0 = 1_800_000_000_000;
const job = (o: Partial<JobTimes> = {}): JobTimes => ({
  state: "succeeded",
  tasks: 4,
  submittedAt: T0 - 100,
  startedAt: T0,
  computedAt: T0 + 1_000,
  finishedAt: T0 + 1_200,
  ...o,
});

/** An item on `node` that ends at T0 + end ms and ran `r`, `c`, `w` ms of read, compute, write. */
function item(
  node: string,
  taskId: string,
  end: number,
  r: number,
  c: number,
  w: number,
): ItemTiming {
  return {
    node,
    taskId,
    attempt: 1,
    endAt: T0 + end,
    readMs: r,
    computeMs: c,
    writeMs: w,
    totalMs: r + c + w,
  };
}

describe("job profile (bottleneck detection)", () => {
  it("reads an agent's shipped completion line and ignores every other line", () => {
    const line = {
      level: 30,
      time: T0,
      service: "agent",
      node: "agent-1",
      jobId: "j",
      taskId: "m-0-0-0",
      attempt: 2,
      msg: COMPLETED_MSG,
      timings: { readMs: 1, computeMs: 2, writeMs: 3, totalMs: 6.5 },
    };
    expect(itemTimingOf(line)).toEqual({
      node: "agent-1",
      taskId: "m-0-0-0",
      attempt: 2,
      endAt: T0,
      readMs: 1,
      computeMs: 2,
      writeMs: 3,
      totalMs: 6.5,
    });
    expect(itemTimingOf({ ...line, msg: "attempt started" })).toBeNull();
    expect(itemTimingOf({ ...line, timings: { readMs: 1 } })).toBeNull();
    expect(itemTimingOf({ ...line, node: undefined })).toBeNull();
    expect(itemTimingsOf(line)).toHaveLength(1);
  });

  it("reads every item of an agent's work batch line", () => {
    const timings = { readMs: 0, computeMs: 0.01, writeMs: 0, totalMs: 0.02 };
    const line = {
      level: 30,
      time: T0 + 9,
      service: "agent",
      node: "agent-2",
      jobId: "j",
      batch: "j/m-0-0-0/1",
      msg: COMPLETED_BATCH_MSG,
      items: [
        { taskId: "m-0-0-0", attempt: 1, endAt: T0 + 1, timings },
        { taskId: "m-0-0-1", attempt: 1, endAt: T0 + 2, timings },
        { taskId: "m-0-0-2", attempt: 1, endAt: T0 + 3 }, // no timings: skipped
      ],
      failed: 0,
    };
    expect(itemTimingsOf(line)).toEqual([
      { node: "agent-2", taskId: "m-0-0-0", attempt: 1, endAt: T0 + 1, ...timings },
      { node: "agent-2", taskId: "m-0-0-1", attempt: 1, endAt: T0 + 2, ...timings },
    ]);
    expect(itemTimingsOf({ ...line, items: "none" })).toEqual([]);
    // Both messages contain what the profile searches TESSERA_LOGS for.
    for (const msg of [COMPLETED_MSG, COMPLETED_BATCH_MSG]) {
      expect(msg).toContain(COMPLETION_LINES_GREP);
    }
  });

  it("covers the union of intervals, clipped to the window", () => {
    expect(
      coveredMs(
        [
          [0, 10],
          [5, 15],
          [20, 30],
          [-5, 2],
        ],
        0,
        25,
      ),
    ).toBe(20);
    expect(coveredMs([], 0, 10)).toBe(0);
  });

  it("names the kernel when agents were never idle and computing dominated", () => {
    // Two nodes, each busy over the whole 1 s window, 80 % of it computing.
    const items = [
      item("agent-1", "m-0-0-0", 500, 50, 400, 50),
      item("agent-1", "m-0-1-0", 1_000, 50, 400, 50),
      item("agent-2", "m-1-0-0", 500, 50, 400, 50),
      item("agent-2", "m-1-1-0", 1_000, 50, 400, 50),
    ];
    const p = profileJob("j", job(), items, T0 + 5_000);
    expect(p.bottleneck.stage).toBe("kernel");
    expect(p.bottleneck.reason).toContain("compute 80 %");
    expect(p.occupancy).toBe(1);
    expect(p).toMatchObject({
      wallSeconds: 1.3,
      computeSeconds: 1,
      verifySeconds: 0.2,
      items: 4,
      distinctTasks: 4,
      busySeconds: 2,
      phases: { readSeconds: 0.2, computeSeconds: 1.6, writeSeconds: 0.2 },
      notes: [],
    });
    expect(formatProfile(p).at(-1)).toMatch(/^bottleneck: kernel: /);
  });

  it("puts every item on the job's clock with --timeline, earliest start first", () => {
    const items = [
      item("agent-2", "m-1-0-0", 900, 0, 90, 10),
      item("agent-1", "m-0-0-0", 100, 0, 90, 10),
      item("agent-1", "r-0-0", 1_000, 20, 0, 5),
    ];
    expect(profileJob("j", job(), items, T0 + 5_000).timeline).toBeUndefined();
    const p = profileJob("j", job(), items, T0 + 5_000, { timeline: true });
    expect(p.timeline).toEqual([
      {
        node: "agent-1",
        taskId: "m-0-0-0",
        attempt: 1,
        startSeconds: 0,
        endSeconds: 0.1,
        readMs: 0,
        computeMs: 90,
        writeMs: 10,
      },
      {
        node: "agent-2",
        taskId: "m-1-0-0",
        attempt: 1,
        startSeconds: 0.8,
        endSeconds: 0.9,
        readMs: 0,
        computeMs: 90,
        writeMs: 10,
      },
      {
        node: "agent-1",
        taskId: "r-0-0",
        attempt: 1,
        startSeconds: 0.975,
        endSeconds: 1,
        readMs: 20,
        computeMs: 0,
        writeMs: 5,
      },
    ]);
    expect(formatProfile(p).slice(-3)).toEqual([
      "     0.000 →    0.100  agent-1  m-0-0-0 #1  0 · 90 · 10",
      "     0.800 →    0.900  agent-2  m-1-0-0 #1  0 · 90 · 10",
      "     0.975 →    1.000  agent-1  r-0-0 #1  20 · 0 · 5",
    ]);
  });

  it("names the control plane when agents mostly waited for work, whatever their phases", () => {
    const items = [
      item("agent-1", "m-0-0-0", 100, 0, 90, 10),
      item("agent-2", "m-1-0-0", 900, 0, 90, 10),
    ];
    const p = profileJob("j", job(), items, T0 + 5_000);
    expect(p.occupancy).toBe(0.1);
    expect(p.bottleneck).toMatchObject({ stage: "control-plane" });
    expect(p.bottleneck.reason).toContain("only 10 %");
  });

  it("names durable writes or input reads when they dominate busy agents", () => {
    const writes = [item("a", "m-0-0-0", 1_000, 100, 200, 700)];
    expect(profileJob("j", job(), writes, T0).bottleneck.stage).toBe("storage-write");
    const reads = [item("a", "m-0-0-0", 1_000, 700, 200, 100)];
    expect(profileJob("j", job(), reads, T0).bottleneck.stage).toBe("storage-read");
  });

  it("says so when there is nothing to judge by, and notes repeats, imbalance, slow verification and a running job", () => {
    const none = profileJob("j", job(), [], T0);
    expect(none.bottleneck.stage).toBe("unknown");
    expect(none.bottleneck.reason).toContain("--ship-logs");
    expect(none.occupancy).toBeNull();

    const items = [
      item("agent-1", "m-0-0-0", 400, 0, 400, 0),
      item("agent-1", "m-0-1-0", 800, 0, 400, 0),
      item("agent-1", "m-0-1-0", 1_000, 0, 200, 0),
      item("agent-2", "m-1-0-0", 1_000, 0, 100, 0),
    ];
    const slowVerify = job({ finishedAt: T0 + 2_000 });
    const p = profileJob("j", slowVerify, items, T0);
    expect(p.notes).toEqual([
      "1 work item(s) ran a task a second time (speculative or retried attempts)",
      "imbalance: agent-1 was busy 1 s, agent-2 0.1 s",
      "verification took 48 % of the job's wall time",
    ]);

    // Still computing: the window runs to now; wall and verification are not known yet.
    const running = profileJob(
      "j",
      job({ state: "running", computedAt: null, finishedAt: null }),
      items,
      T0 + 2_000,
    );
    expect(running).toMatchObject({ wallSeconds: null, verifySeconds: null, computeSeconds: 2 });
    expect(running.notes).toContain("the job is still computing: a profile of its work so far");
  });
});
