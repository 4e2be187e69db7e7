import { crc32cOf, emptyOutput } from "@tessera/matrix";
import type { ManifestEvent } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import { Driver, uriOf } from "./fsm.test-helpers.js";
import { ManifestFsm } from "./manifest-fsm.js";

// attempt-start-batch and attempt-report-batch: the batched task path for short tasks
// (services/scheduler/README.md). Each start / report is judged as if sent alone; the accepted
// starts form one batch whose id every one of their attempts records.

/** Mode "empty", K = 2: 8 maps, 4 reduces. */
const EMPTY = { n: 32, tile: 16, mode: "empty", seed: 7 } as const;

const started = (events: ManifestEvent[]) =>
  events.flatMap((e) =>
    e.category === "task" && e.type === "started"
      ? [{ taskId: e.taskId, attempt: e.attempt, batch: e.batch }]
      : [],
  );

/** Attempt 1 of each task, in one attempt-start-batch (asserted accepted). */
function startFirstAttempts(d: Driver, jobId: string, taskIds: readonly string[]) {
  const starts = taskIds.map((taskId) => ({ taskId, attempt: 1 }));
  return d.ok({ type: "attempt-start-batch", jobId, starts });
}

function report(jobId: string, taskId: string, attempt: number) {
  return {
    type: "attempt-complete",
    jobId,
    taskId,
    attempt,
    nodeId: "agent-1",
    output: emptyOutput(uriOf(jobId, taskId, "")),
  } as const;
}

describe("attempt-start-batch", () => {
  it("starts each start on its own, names the batch after the first accepted one and records it on each attempt", () => {
    const d = new Driver();
    const job = d.submit(EMPTY, "j");
    d.start(job, "m-0-0-0", 1); // already live: refused in the batch below
    const sent = d.ok({
      type: "attempt-start-batch",
      jobId: job,
      starts: [
        { taskId: "m-0-0-0", attempt: 2 },
        { taskId: "m-0-0-1", attempt: 1, deadlineAt: 1_800_000_000_000 },
        { taskId: "m-0-1-0", attempt: 1 },
        { taskId: "r-0-0", attempt: 1 },
      ],
    });
    expect(sent.reply).toMatchObject({
      ok: true,
      result: {
        jobId: job,
        batch: "j/m-0-0-1/1",
        started: [
          { taskId: "m-0-0-1", attempt: 1 },
          { taskId: "m-0-1-0", attempt: 1 },
        ],
        refused: [
          { taskId: "m-0-0-0", attempt: 2, code: "task-busy" },
          { taskId: "r-0-0", attempt: 1, code: "not-runnable" },
        ],
      },
    });
    expect(started(sent.events)).toEqual([
      { taskId: "m-0-0-1", attempt: 1, batch: "j/m-0-0-1/1" },
      { taskId: "m-0-1-0", attempt: 1, batch: "j/m-0-0-1/1" },
    ]);
    expect(d.fsm.getTask(job, "m-0-0-1")?.live).toMatchObject([
      { attempt: 1, batch: "j/m-0-0-1/1", deadlineAt: 1_800_000_000_000, speculative: false },
    ]);
    // A lone attempt-start records no batch.
    expect(d.fsm.getTask(job, "m-0-0-0")?.live).toMatchObject([{ attempt: 1, batch: null }]);
  });

  it("answers ok with batch null when every start is refused, and changes nothing", () => {
    const d = new Driver();
    const job = d.submit(EMPTY, "j");
    const before = d.fsm.digest();
    const sent = d.ok({
      type: "attempt-start-batch",
      jobId: job,
      starts: [{ taskId: "m-0-0-0", attempt: 2 }],
    });
    expect(sent.reply).toMatchObject({
      ok: true,
      result: { batch: null, started: [], refused: [{ code: "stale-attempt" }] },
    });
    expect(sent.events).toEqual([]);
    expect(d.fsm.getJob(job)?.counts.liveAttempts).toBe(0);
    // Only the applied index moved.
    expect(d.fsm.digest()).not.toBe(before);
  });

  it("refuses a batch over 128 starts or of a malformed start, naming the field", () => {
    const d = new Driver();
    const job = d.submit(EMPTY, "j");
    const starts = Array.from({ length: 129 }, (_, k) => ({ taskId: `m-0-0-${k}`, attempt: 1 }));
    const big = d.send({ type: "attempt-start-batch", jobId: job, starts });
    expect(big.reply).toMatchObject({ ok: false, code: "schema-error" });
    expect(big.reply.ok ? "" : big.reply.reason).toMatch(/\/cmd\/starts/);
    const bad = d.send({
      type: "attempt-start-batch",
      jobId: job,
      starts: [{ taskId: "x-1", attempt: 1 }],
    });
    expect(bad.reply.ok ? "" : bad.reply.reason).toMatch(/\/cmd\/starts\/0\/taskId/);
  });
});

describe("attempt-report-batch", () => {
  it("applies each report as if sent alone and names the refused ones", () => {
    const d = new Driver();
    const job = d.submit(EMPTY, "j");
    startFirstAttempts(d, job, ["m-0-0-0", "m-0-0-1", "m-0-1-0"]);
    const sent = d.ok({
      type: "attempt-report-batch",
      reports: [
        report(job, "m-0-0-0", 1),
        {
          type: "attempt-fail",
          jobId: job,
          taskId: "m-0-0-1",
          attempt: 1,
          nodeId: "agent-1",
          reason: "STORE: unreachable",
          retryable: true,
        },
        report(job, "m-0-1-1", 1), // never started: stale
      ],
    });
    expect(sent.reply).toMatchObject({
      ok: true,
      result: { applied: 2, refused: [{ taskId: "m-0-1-1", attempt: 1, code: "stale-attempt" }] },
    });
    expect(sent.events.map((e) => `${e.category}.${e.type}`)).toEqual([
      "task.completed",
      "task.attempt-failed",
    ]);
    expect(d.fsm.getTask(job, "m-0-0-0")?.state).toBe("done");
    expect(d.fsm.getTask(job, "m-0-0-1")).toMatchObject({ state: "pending", failures: 1 });
    expect(d.fsm.getTask(job, "m-0-1-0")?.live).toHaveLength(1);

    // The same reports again (a redelivered batch): nothing changes twice.
    const again = d.ok({ type: "attempt-report-batch", reports: [report(job, "m-0-0-0", 1)] });
    expect(again.reply).toMatchObject({ ok: true, result: { applied: 1, refused: [] } });
    expect(again.events).toEqual([]);
    expect(d.fsm.getJob(job)?.counts.mapsDone).toBe(1);
  });
});

describe("snapshots and batches", () => {
  it("keeps each live attempt's batch through a snapshot", () => {
    const d = new Driver();
    const job = d.submit(EMPTY, "j");
    startFirstAttempts(d, job, ["m-0-0-0", "m-0-0-1"]);
    d.start(job, "m-0-1-0", 1);
    const snap = d.fsm.snapshot();
    // Feature level 1 writes v6, which holds the newest job records (v7 adds node fields).
    expect(new DataView(snap.buffer, snap.byteOffset).getUint16(4, true)).toBe(6);
    const b = new ManifestFsm();
    b.restore(snap);
    expect(b.digest()).toBe(d.fsm.digest());
    expect(b.getTask(job, "m-0-0-1")?.live).toMatchObject([{ batch: "j/m-0-0-0/1" }]);
    expect(b.getTask(job, "m-0-1-0")?.live).toMatchObject([{ batch: null }]);
  });

  it("restores version-4 (before batches) and version-5 (before armed attempts) snapshots", () => {
    const d = new Driver();
    const job = d.submit(EMPTY, "j");
    d.start(job, "m-0-0-0", 1);
    const now = d.fsm.snapshot();
    // The one live attempt ends with claimedAt (f64 -1), its batch ("": u32 0, from v5 on) and
    // the job's armed attempts (none: u32 0, from v6 on).
    const tail = [0, 0, 0, 0, 0, 0, 0xf0, 0xbf, 0, 0, 0, 0, 0, 0, 0, 0];
    const at = lastIndexOf(now, tail) + 8;
    expect(at).toBeGreaterThan(20);
    for (const [version, cut] of [
      [5, at + 4],
      [4, at],
    ] as const) {
      const dropped = version === 5 ? 4 : 8;
      const body = new Uint8Array(now.length - 20 - dropped);
      body.set(now.subarray(20, cut), 0);
      body.set(now.subarray(cut + dropped), cut - 20);
      const old = new Uint8Array(20 + body.length);
      old.set(now.subarray(0, 20));
      old.set(body, 20);
      const view = new DataView(old.buffer);
      view.setUint16(4, version, true);
      view.setUint32(8, crc32cOf(body), true);
      view.setFloat64(12, body.length, true);
      const b = new ManifestFsm();
      b.restore(old);
      expect(b.digest()).toBe(d.fsm.digest());
      expect(b.snapshot()).toEqual(now);
    }
  });
});

function lastIndexOf(haystack: Uint8Array, needle: readonly number[]): number {
  outer: for (let i = haystack.length - needle.length; i >= 0; i--) {
    for (let k = 0; k < needle.length; k++) if (haystack[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}
