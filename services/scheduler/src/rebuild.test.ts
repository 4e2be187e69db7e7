import { ManifestFsm } from "@tessera/consensus/fsm";
import { formatCrc32c, outputKey, partialKey } from "@tessera/matrix";
import type { ManifestEventBatchV1 } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import { ViewBuilder } from "./core/fixtures.test-helpers.js";
import { applyBatch, emptyView, type JobView, reduceReady } from "./core/view.js";
import { type ManifestPort, parseJob, parseNode, parseTask, parseTaskPage } from "./manifest.js";
import { applyTaskRead, rebuildView } from "./rebuild.js";

/** A real manifest FSM driven by commands; its event batches are kept to build a view from. */
class FsmManifest {
  readonly fsm = new ManifestFsm();
  readonly batches: ManifestEventBatchV1[] = [];
  private index = 0;
  pageReads = 0;

  apply(cmd: Record<string, unknown>): void {
    const index = ++this.index;
    const at = 1_700_000_000_000 + index;
    const data = new TextEncoder().encode(JSON.stringify({ v: 1, clientId: "t", seq: index, cmd }));
    const out = this.fsm.apply({ index, term: 1, stampedAt: at, data });
    const reply = JSON.parse(new TextDecoder().decode(out.reply)) as { ok: boolean };
    if (!reply.ok) throw new Error(`${JSON.stringify(cmd)} refused: ${JSON.stringify(reply)}`);
    const events = out.events.map((e) => e.body) as ManifestEventBatchV1["events"];
    if (events.length > 0) this.batches.push({ v: 1, index, term: 1, at, events });
  }

  /** The scheduler's port over this FSM, through the same JSON shapes the Read API serves. */
  port(): ManifestPort {
    const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null));
    const read = <T>(value: T) => Promise.resolve({ appliedIndex: this.fsm.appliedIndex, value });
    return {
      propose: () => Promise.reject(new Error("read-only")),
      jobs: () => read((json(this.fsm.listJobs()) as unknown[]).map((j, i) => parseJob(j, `${i}`))),
      task: (jobId, taskId) => read(parseTask(json(this.fsm.getTask(jobId, taskId)), "task")),
      tasks: (jobId, from, limit) => {
        this.pageReads++;
        return read(parseTaskPage(json(this.fsm.listTasks(jobId, from, limit)), "tasks"));
      },
      nodes: () =>
        read((json(this.fsm.listNodes()) as unknown[]).map((n, i) => parseNode(n, `${i}`))),
      stats: () => read({ emergencyStop: false }),
      close: () => {},
    };
  }
}

/** What the planner relies on in a job view, comparable across two ways of building it. */
function plannerFacts(job: JobView) {
  return {
    spec: job.spec,
    partials: job.partials,
    state: job.state,
    mapsDone: job.mapsDone,
    reducesDone: job.reducesDone,
    rowMapsDone: [...job.rowMapsDone],
    reduced: [...job.reduced],
    freshCursor: job.freshCursor,
    unsettled: [...job.unsettled].map((t) => t.taskId).sort(),
    tasks: [...job.tasks.values()]
      .filter((t) => t.lastAttempt > 0 || t.completed)
      .map((t) => ({
        taskId: t.taskId,
        lastAttempt: t.lastAttempt,
        live: [...t.live.keys()].sort(),
        completed: t.completed !== undefined,
        failures: t.failures,
      }))
      .sort((a, b) => (a.taskId < b.taskId ? -1 : 1)),
  };
}

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

  it("rebuilds, page by page, the view the event stream built (real manifest FSM)", async () => {
    const m = new FsmManifest();
    m.apply({
      type: "node-upsert",
      nodeId: "n1",
      labels: { cloud: "local", region: "r1", zone: "z1", pool: "cpu" },
      capacity: { slots: 4, cpus: 4, memoryBytes: 2 ** 30, gpus: 0 },
      executionProvider: "cpu",
      at: 1_700_000_000_000,
    });
    m.apply({ type: "submit-job", jobId: "j", spec: { n: 256, tile: 64, mode: "exact", seed: 1 } });
    const out = (taskId: string) => {
      const [kind, i, j, k] = taskId.split("-");
      const key =
        kind === "m"
          ? partialKey("j", Number(i), Number(j), Number(k))
          : outputKey("j", Number(i), Number(j));
      return { uri: `file:///data/${key}`, checksum: formatCrc32c(taskId.length), bytes: 1024 };
    };
    const start = (taskId: string, attempt: number) =>
      m.apply({ type: "attempt-start", jobId: "j", taskId, attempt, nodeId: "n1" });
    const complete = (taskId: string, attempt: number) =>
      m.apply({
        type: "attempt-complete",
        jobId: "j",
        taskId,
        attempt,
        nodeId: "n1",
        output: out(taskId),
      });
    // Row (0,0) done and its reduce done; row (0,1) done; three maps of row (0,2) done, one
    // failed once and running again, one failed and waiting; a speculative pair on row (0,3).
    for (let k = 0; k < 4; k++)
      for (const row of ["0-0", "0-1"]) {
        start(`m-${row}-${k}`, 1);
        complete(`m-${row}-${k}`, 1);
      }
    start("r-0-0", 1);
    complete("r-0-0", 1);
    for (const k of [0, 1]) {
      start(`m-0-2-${k}`, 1);
      complete(`m-0-2-${k}`, 1);
    }
    start("m-0-2-2", 1);
    m.apply({
      type: "attempt-fail",
      jobId: "j",
      taskId: "m-0-2-2",
      attempt: 1,
      reason: "oom",
      retryable: true,
    });
    start("m-0-2-2", 2);
    start("m-0-2-3", 1);
    m.apply({
      type: "attempt-fail",
      jobId: "j",
      taskId: "m-0-2-3",
      attempt: 1,
      reason: "oom",
      retryable: true,
    });
    start("m-0-3-0", 1);
    m.apply({
      type: "attempt-start",
      jobId: "j",
      taskId: "m-0-3-0",
      attempt: 2,
      nodeId: "n1",
      speculative: true,
    });
    start("m-1-0-0", 1); // out of order: the fresh cursor stays at m-0-3-1

    const fromEvents = emptyView();
    for (const b of m.batches) expect(applyBatch(fromEvents, b).kind).toBe("applied");
    const rebuilt = await rebuildView(m.port(), { now: 0, pageSize: 3 });

    const touched = 8 + 1 + 2 + 1 + 1 + 1 + 1;
    expect(rebuilt.tasksRead).toBe(touched);
    expect(m.pageReads).toBe(Math.ceil(touched / 3) + (touched % 3 === 0 ? 1 : 0));
    const a = plannerFacts(fromEvents.jobs.get("j")!);
    expect(plannerFacts(rebuilt.view.jobs.get("j")!)).toEqual(a);
    expect(a.freshCursor).toBe(13); // m-0-3-1
    expect(a.unsettled).toEqual(["m-0-2-2", "m-0-2-3", "m-0-3-0", "m-1-0-0"]);
  });

  it("keeps a grouped job's kPerMap: the rebuilt view has the same maps and reduces as the manifest", async () => {
    // kPerMap was dropped by the manifest reader once: a scheduler restarted mid-job (or
    // resyncing) then planned maps m-i-j-1.. that do not exist (unknown-task) and waited for
    // partials that never come, so the job stalled for good.
    const m = new FsmManifest();
    const spec = { n: 256, tile: 64, mode: "exact", seed: 1, kPerMap: 4 } as const;
    m.apply({ type: "submit-job", jobId: "j", spec });
    // No node named: agents of a pool share one consumer (scheduler.ts), so the attempt is unbound.
    m.apply({ type: "attempt-start", jobId: "j", taskId: "m-0-0-0", attempt: 1 });
    m.apply({
      type: "attempt-complete",
      jobId: "j",
      taskId: "m-0-0-0",
      attempt: 1,
      nodeId: "n1",
      output: {
        uri: `file:///data/${partialKey("j", 0, 0, 0)}`,
        checksum: formatCrc32c(1),
        bytes: 1024,
      },
    });
    const fromEvents = emptyView();
    for (const b of m.batches) expect(applyBatch(fromEvents, b).kind).toBe("applied");
    const rebuilt = (await rebuildView(m.port(), { now: 0, pageSize: 10 })).view.jobs.get("j")!;
    expect(rebuilt.spec).toEqual(spec);
    expect(rebuilt.partials).toBe(1);
    expect(plannerFacts(rebuilt)).toEqual(plannerFacts(fromEvents.jobs.get("j")!));
    expect(reduceReady(rebuilt, 0, 0)).toBe(true);
    expect(() =>
      parseJob(
        { jobId: "j", state: "running", spec: { ...spec, kPerMap: "4" }, counts: {} },
        "jobs/0",
      ),
    ).toThrow(/jobs\/0\/spec\/kPerMap: must be a number/);
  });
});
