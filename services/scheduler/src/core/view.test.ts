import { describe, expect, it } from "vitest";
import { completedEvent, ViewBuilder } from "./fixtures.test-helpers.js";
import {
  applyBatch,
  type JobView,
  mapIdAt,
  type Observation,
  parseTaskId,
  reduceReady,
  reduceTaskId,
  type TaskView,
} from "./view.js";

/** The planning indexes recomputed the slow way, from every task of the job. */
function indexesByScan(job: JobView): {
  unsettled: string[];
  freshCursor: number;
  reduced: number[];
} {
  const unsettled = [...job.tasks.values()]
    .filter(
      (t: TaskView) =>
        t.live.size > 0 || (t.lastAttempt > 0 && !t.completed && t.failedReason === undefined),
    )
    .map((t) => t.taskId)
    .sort();
  let freshCursor = 0;
  while (freshCursor < job.tiles ** 3) {
    const t = job.tasks.get(mapIdAt(job, freshCursor));
    if (!t || (t.lastAttempt === 0 && !t.completed && t.failedReason === undefined)) break;
    freshCursor++;
  }
  const reduced = Array.from({ length: job.tiles ** 2 }, (_, row) =>
    job.tasks.get(reduceTaskId(Math.floor(row / job.tiles), row % job.tiles))?.completed ? 1 : 0,
  );
  return { unsettled, freshCursor, reduced };
}

describe("view reducer", () => {
  it("tracks attempts, completions and per-row partial counts", () => {
    const b = new ViewBuilder().submit("j1", 128, 64);
    b.start("j1", "m-0-0-0", 1, 100).complete("j1", "m-0-0-0", 1, 350);
    const job = b.view.jobs.get("j1")!;
    expect(job.state).toBe("running");
    expect(job.tasks.get("m-0-0-0")?.completed).toEqual({
      attempt: 1,
      nodeId: "n1",
      at: 350,
      durationMs: 250,
    });
    expect(reduceReady(job, 0, 0)).toBe(false);
    b.start("j1", "m-0-0-1", 1, 400).complete("j1", "m-0-0-1", 1, 500);
    expect(reduceReady(job, 0, 0)).toBe(true);
    expect(reduceReady(job, 0, 1)).toBe(false);
    expect(job.mapsDone).toBe(2);
  });

  it("observes a completion with the agent's run time when the event carries it", () => {
    const b = new ViewBuilder().submit("j1").start("j1", "m-0-0-0", 1, 10);
    const observations: Observation[] = [];
    const completed = completedEvent("j1", "m-0-0-0", 1, "n1", 7.5);
    applyBatch(b.view, { v: 1, index: 3, term: 1, at: 40, events: [completed] }, observations);
    expect(observations).toEqual([
      {
        type: "task-completed",
        at: 40,
        jobId: "j1",
        taskId: "m-0-0-0",
        attempt: 1,
        nodeId: "n1",
        kind: "map",
        runMs: 7.5,
      },
    ]);
  });

  it("forgets a finished job's tasks, keeps its shell, and ignores its attempts released with it", () => {
    const b = new ViewBuilder().submit("j1").submit("j2");
    b.start("j1", "m-0-0-0", 1, 10).complete("j1", "m-0-0-0", 1, 20).start("j1", "m-0-0-1", 1, 30);
    b.start("j2", "m-0-0-0", 1, 10);
    const j1 = b.view.jobs.get("j1")!;
    const released = {
      category: "task",
      type: "attempt-released",
      jobId: "j1",
      taskId: "m-0-0-1",
      attempt: 1,
      reason: "job-cancelled",
    } as const;
    b.apply(40, { category: "job", type: "cancelled", jobId: "j1", released: 1 }, released);
    expect(j1.state).toBe("cancelled");
    expect(j1.tasks.size).toBe(0);
    expect(j1.unsettled.size).toBe(0);
    expect(j1.mapsDone).toBe(1);
    // The other job is untouched.
    expect(b.view.jobs.get("j2")?.tasks.get("m-0-0-0")?.live.size).toBe(1);
    b.apply(50, {
      category: "job",
      type: "failed",
      jobId: "j2",
      reason: "verification failed",
      released: 0,
    });
    expect(b.view.jobs.get("j2")?.tasks.size).toBe(0);
    expect(b.view.jobs.get("j2")?.failedReason).toBe("verification failed");
    // Deleted from the manifest: the shell goes too, and the view stays consistent.
    b.apply(60, { category: "job", type: "deleted", jobId: "j1" }); // throws unless applied
    expect([...b.view.jobs.keys()]).toEqual(["j2"]);
  });

  it("ignores a re-published (older) batch and flags an attempt gap as inconsistent", () => {
    const b = new ViewBuilder().submit("j1").start("j1", "m-0-0-0", 1, 10);
    const stale = applyBatch(b.view, {
      v: 1,
      index: 1,
      term: 1,
      at: 0,
      events: [{ category: "job", type: "started", jobId: "j1" }],
    });
    expect(stale.kind).toBe("stale");
    const gap = applyBatch(b.view, {
      v: 1,
      index: 10,
      term: 1,
      at: 20,
      events: [
        {
          category: "task",
          type: "started",
          jobId: "j1",
          taskId: "m-0-0-0",
          attempt: 3,
          kind: "map",
          speculative: false,
        },
      ],
    });
    expect(gap.kind).toBe("inconsistent");
    const unknownJob = applyBatch(b.view, {
      v: 1,
      index: 11,
      term: 1,
      at: 0,
      events: [{ category: "job", type: "paused", jobId: "nope" }],
    });
    expect(unknownJob).toMatchObject({ kind: "inconsistent" });
  });

  it("counts failures and overruns but not node losses", () => {
    const b = new ViewBuilder().submit("j1").node("n1");
    b.start("j1", "m-0-0-0", 1, 0).fail(
      "j1",
      "m-0-0-0",
      1,
      5,
      "TESSERA_E_STORAGE_UNAVAILABLE: down",
      "n1",
    );
    const t = b.view.jobs.get("j1")!.tasks.get("m-0-0-0")!;
    expect(t.failures).toBe(1);
    expect(b.view.nodes.get("n1")?.lastFailureAt).toBe(5);
    b.start("j1", "m-0-0-0", 2, 10).apply(20, {
      category: "task",
      type: "attempt-expired",
      jobId: "j1",
      taskId: "m-0-0-0",
      attempt: 2,
      reason: "node n1 failed: heartbeats stopped",
    });
    expect(t.failures).toBe(1);
    expect(t.live.size).toBe(0);
    b.start("j1", "m-0-0-0", 3, 30).apply(40, {
      category: "task",
      type: "attempt-expired",
      jobId: "j1",
      taskId: "m-0-0-0",
      attempt: 3,
      reason: "overran: attempt 3 ran 9000 ms",
    });
    expect(t.failures).toBe(2);
  });

  it("skips events a rebuild read already reflected (asOf)", () => {
    const b = new ViewBuilder().submit("j1");
    const job = b.view.jobs.get("j1")!;
    b.start("j1", "m-0-0-0", 1, 0);
    job.tasks.get("m-0-0-0")!.asOf = 5;
    // index 3 <= asOf: a start for attempt 1 again must not be flagged.
    b.apply(1, {
      category: "task",
      type: "claimed",
      jobId: "j1",
      taskId: "m-0-0-0",
      attempt: 1,
      nodeId: "n9",
    });
    expect(job.tasks.get("m-0-0-0")!.live.get(1)?.nodeId).toBeUndefined();
  });

  it("applies controls and node state", () => {
    const b = new ViewBuilder().submit("j1").node("n1").start("j1", "m-0-0-0", 1, 0);
    b.apply(1, { category: "job", type: "paused", jobId: "j1" });
    expect(b.view.jobs.get("j1")!.state).toBe("paused");
    b.apply(2, { category: "node", type: "drain", nodeId: "n1", drained: true });
    expect(b.view.nodes.get("n1")!.drained).toBe(true);
    b.apply(3, { category: "node", type: "failed", nodeId: "n1", reason: "x", expired: 0 });
    expect(b.view.nodes.get("n1")!.state).toBe("failed");
    b.apply(4, { category: "control", type: "emergency-stop", engaged: true, released: 1 });
    expect(b.view.emergencyStop).toBe(true);
    expect(b.view.jobs.get("j1")!.tasks.get("m-0-0-0")!.live.size).toBe(0);
  });

  it("a task.reset sends a completed partial back and un-readies its reduce; computed means verifying", () => {
    const b = new ViewBuilder().submit("j1", 128, 64).completeRow("j1", 0, 0, 0);
    const job = b.view.jobs.get("j1")!;
    expect(reduceReady(job, 0, 0)).toBe(true);
    b.apply(50, {
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
    expect(reduceReady(job, 0, 0)).toBe(false);
    expect(job.tasks.get("m-0-0-1")!.completed).toBeUndefined();
    b.apply(60, { category: "job", type: "computed", jobId: "j1", outputDigest: "0".repeat(64) });
    expect(job.state).toBe("verifying");
  });

  it("parses task ids strictly", () => {
    expect(parseTaskId("m-1-2-3")).toEqual({ kind: "map", i: 1, j: 2, k: 3 });
    expect(parseTaskId("r-1-2")).toEqual({ kind: "reduce", i: 1, j: 2, k: undefined });
    expect(parseTaskId("r-1-2-3")).toBeUndefined();
    expect(parseTaskId("m-1-2")).toBeUndefined();
  });

  it("keeps the planning indexes (unsettled tasks, fresh cursor) equal to a full scan", () => {
    // A seeded walk through in-order and out-of-order starts, speculative duplicates,
    // completions, failures, retries, releases, resets and a cancel, checked after each step.
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return (seed >>> 8) % n;
    };
    const b = new ViewBuilder().submit("j1", 512, 64).node("n1");
    const job = b.view.jobs.get("j1")!;
    const T = job.tiles;
    const pick = <X>(xs: X[]): X | undefined => xs[rand(Math.max(1, xs.length))];
    const kindOf = (id: string) => (id.startsWith("m") ? "map" : "reduce");
    let at = 100;
    for (let step = 0; step < 2000; step++) {
      at += 5;
      const roll = rand(10);
      if (roll < 2 && job.freshCursor < T ** 3) {
        b.start("j1", mapIdAt(job, job.freshCursor), 1, at);
      } else if (roll < 8) {
        const t = pick([...job.unsettled]);
        if (!t) continue;
        const live = [...t.live.keys()];
        const a = pick(live);
        const r = rand(10);
        if (a === undefined) b.start("j1", t.taskId, t.lastAttempt + 1, at);
        else if (r < 6) b.complete("j1", t.taskId, a, at);
        else if (r < 8) b.fail("j1", t.taskId, a, at);
        else if (live.length === 1 && !t.completed)
          b.start("j1", t.taskId, t.lastAttempt + 1, at, { speculative: true });
      } else if (roll === 8) {
        const t = pick([...job.tasks.values()].filter((x) => x.completed));
        if (!t?.completed) continue;
        const loser = pick([...t.live.keys()]);
        if (loser !== undefined)
          b.apply(at, {
            category: "task",
            type: "attempt-released",
            jobId: "j1",
            taskId: t.taskId,
            attempt: loser,
            reason: "lost-race",
          });
        else if (t.kind === "map" && !job.tasks.get(reduceTaskId(t.i, t.j))?.completed)
          b.apply(at, {
            category: "task",
            type: "reset",
            jobId: "j1",
            taskId: t.taskId,
            attempt: t.completed.attempt,
            kind: kindOf(t.taskId),
            reason: "corrupt",
            resets: 1,
            jobState: "running",
          });
      } else {
        const ready: string[] = [];
        for (let row = 0; row < T * T; row++)
          if (reduceReady(job, Math.floor(row / T), row % T))
            ready.push(reduceTaskId(Math.floor(row / T), row % T));
        const id = pick(ready) ?? mapIdAt(job, rand(T ** 3));
        const t = job.tasks.get(id);
        if (!t || (t.lastAttempt === 0 && !t.completed)) b.start("j1", id, 1, at);
      }
      const scan = indexesByScan(job);
      expect([...job.unsettled].map((x) => x.taskId).sort()).toEqual(scan.unsettled);
      expect(job.freshCursor).toBe(scan.freshCursor);
      expect([...job.reduced]).toEqual(scan.reduced);
    }
    // The walk got somewhere: rows finished, the cursor moved, and tasks are still in flight.
    expect(job.reducesDone).toBeGreaterThan(0);
    expect(job.freshCursor).toBeGreaterThan(T * T);
    expect(job.unsettled.size).toBeGreaterThan(0);
    b.apply(at + 1, { category: "job", type: "cancelled", jobId: "j1", released: 0 });
    expect([...job.unsettled].map((x) => x.taskId).sort()).toEqual(indexesByScan(job).unsettled);
  });
});
