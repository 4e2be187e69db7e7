import { crc32cOf, outputDigest } from "@tessera/matrix";
import type { ManifestEvent } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import { ChunkWriter } from "./binary.js";
import { checksumOf, Driver, entry, envelopeBytes, T0, upsert, uriOf } from "./fsm.test-helpers.js";
import { ManifestFsm } from "./manifest-fsm.js";

// task-reset, output-verified, job-verified (the storage-manager's and scheduler's commands) and
// the at-least-once behaviour of attempt-complete they rely on.

/** K = 2: 8 maps (m-i-j-k), 4 reduces (r-i-j). */
const SMALL = { n: 32, tile: 16, mode: "exact", seed: 7 } as const;
const MAPS = ["0-0-0", "0-0-1", "0-1-0", "0-1-1", "1-0-0", "1-0-1", "1-1-0", "1-1-1"].map(
  (c) => `m-${c}`,
);
const REDUCES = ["r-0-0", "r-0-1", "r-1-0", "r-1-1"];

const names = (events: ManifestEvent[]) => events.map((e) => `${e.category}.${e.type}`);

function reasonOf(sent: { reply: { ok: boolean } & Record<string, unknown> }): string {
  return sent.reply.ok ? "" : String(sent.reply.reason);
}

/** A job with every map complete (reduces pending and ready). */
function mapsDone(d: Driver, jobId = "j"): string {
  const job = d.submit(SMALL, jobId);
  for (const t of MAPS) d.run(job, t);
  return job;
}

/** A job with every task complete: state verifying. */
function computed(d: Driver, jobId = "j"): string {
  const job = mapsDone(d, jobId);
  for (const t of REDUCES) d.run(job, t);
  expect(d.fsm.getJob(job)?.state).toBe("verifying");
  return job;
}

describe("task-reset", () => {
  it("sends a completed map back to pending, forgets its output and un-readies its reduce", () => {
    const d = new Driver();
    const job = mapsDone(d);
    expect(d.fsm.getTask(job, "r-0-0")?.runnable).toBe(true);
    const sent = d.reset(job, "m-0-0-1", "checksum mismatch", 1);
    expect(sent.reply).toEqual({
      ok: true,
      result: {
        jobId: job,
        taskId: "m-0-0-1",
        changed: true,
        state: "pending",
        attempt: 1,
        resets: 1,
        jobState: "running",
      },
    });
    expect(sent.events).toEqual([
      {
        category: "task",
        type: "reset",
        jobId: job,
        taskId: "m-0-0-1",
        attempt: 1,
        kind: "map",
        reason: "checksum mismatch",
        resets: 1,
        jobState: "running",
      },
    ]);
    expect(d.fsm.getTask(job, "m-0-0-1")).toMatchObject({
      state: "pending",
      output: null,
      resets: 1,
      lastAttempt: 1,
      failures: 0,
      runnable: true,
    });
    expect(d.fsm.getJob(job)?.counts).toMatchObject({
      mapsDone: 7,
      done: 7,
      pending: 5,
      resets: 1,
    });
    // Its reduce waits for it again.
    expect(d.fsm.getTask(job, "r-0-0")?.runnable).toBe(false);
    expect(reasonOf(d.start(job, "r-0-0", 1))).toContain("1 of 2 partials");
    expect([...d.fsm.runnableTasks(job)].map((t) => t.taskId)).toEqual([
      "r-0-1",
      "r-1-0",
      "r-1-1",
      "m-0-0-1",
    ]);
    // A late duplicate of the forgotten completion cannot bring the output back.
    expect(d.complete(job, "m-0-0-1", 1).reply).toMatchObject({ ok: false, code: "stale-attempt" });
    // Recomputed under the next attempt number: the reduce is ready again.
    const rerun = d.run(job, "m-0-0-1");
    expect(rerun.entry.index).toBeGreaterThan(sent.entry.index);
    expect(names(rerun.events)).toEqual(["task.completed", "task.reduce-ready"]);
    expect(d.fsm.getTask(job, "m-0-0-1")).toMatchObject({
      state: "done",
      resets: 1,
      output: { attempt: 2 },
    });
  });

  it("is idempotent for a task without output and fenced by the attempt it names", () => {
    const d = new Driver();
    const job = mapsDone(d);
    d.ok({ type: "task-reset", jobId: job, taskId: "m-1-1-1", reason: "bad" });
    const before = d.fsm.getJob(job);
    const again = d.reset(job, "m-1-1-1", "bad");
    expect(again.reply).toMatchObject({ ok: true, result: { changed: false, state: "pending" } });
    expect(again.events).toEqual([]);
    expect(d.fsm.getJob(job)).toEqual(before);
    // A never-started task: nothing to forget either.
    expect(d.reset(job, "r-1-1").reply).toMatchObject({ ok: true, result: { changed: false } });
    // A reset about attempt 1's output once attempt 2 replaced it is stale, not applied.
    d.run(job, "m-1-1-1");
    const stale = d.reset(job, "m-1-1-1", "bad", 1);
    expect(stale.reply).toMatchObject({ ok: false, code: "stale-attempt" });
    expect(reasonOf(stale)).toContain("output is from attempt 2, not 1");
    expect(d.fsm.getTask(job, "m-1-1-1")?.state).toBe("done");
  });

  it("moves a computed job back to running when a reduce is reset; verdicts wait for it", () => {
    const d = new Driver();
    const job = computed(d);
    const first = d.fsm.getJob(job)?.outputDigest;
    const sent = d.reset(job, "r-1-0", "unreadable tile");
    expect(sent.reply).toMatchObject({ ok: true, result: { jobState: "running", resets: 1 } });
    expect(sent.events[0]).toMatchObject({ type: "reset", kind: "reduce", jobState: "running" });
    expect(d.fsm.getJob(job)).toMatchObject({
      state: "running",
      outputDigest: null,
      computedAt: null,
      verified: null,
      counts: { reducesDone: 3 },
    });
    const early = d.verify(job, true, { digest: first ?? "" });
    expect(early.reply).toMatchObject({ ok: false, code: "job-not-computed" });
    expect(reasonOf(early)).toContain("3 of 4 reduces complete");
    // Its partials are all there: the reduce is runnable at once.
    expect([...d.fsm.runnableTasks(job)].map((t) => t.taskId)).toEqual(["r-1-0"]);
    const again = d.run(job, "r-1-0");
    expect(names(again.events)).toEqual(["task.completed", "job.computed"]);
    expect(d.fsm.getJob(job)).toMatchObject({ state: "verifying", outputDigest: first });
  });

  it("leaves a completed reduce complete when one of its partials is reset", () => {
    const d = new Driver();
    const job = computed(d);
    const digest = d.fsm.getJob(job)?.outputDigest;
    const sent = d.reset(job, "m-0-1-0", "corrupt partial");
    expect(sent.reply).toMatchObject({ ok: true, result: { jobState: "verifying" } });
    expect(d.fsm.getTask(job, "r-0-1")?.state).toBe("done");
    expect(d.fsm.getJob(job)).toMatchObject({
      state: "verifying",
      outputDigest: digest,
      counts: { reducesDone: 4, mapsDone: 7, pending: 1 },
    });
    // Not needed while its reduce is complete: not runnable, and a start is refused.
    expect(d.fsm.getTask(job, "m-0-1-0")?.runnable).toBe(false);
    expect([...d.fsm.runnableTasks(job)]).toEqual([]);
    const start = d.start(job, "m-0-1-0", 2);
    expect(start.reply).toMatchObject({ ok: false, code: "not-runnable" });
    expect(reasonOf(start)).toContain("its reduce r-0-1 completed");
    // Once that reduce is reset too, the partial is needed again (and the reduce waits for it).
    d.reset(job, "r-0-1", "unreadable");
    expect([...d.fsm.runnableTasks(job)].map((t) => t.taskId)).toEqual(["m-0-1-0"]);
    const rerun = d.run(job, "m-0-1-0");
    expect(names(rerun.events)).toEqual(["task.completed", "task.reduce-ready"]);
    d.run(job, "r-0-1");
    expect(d.fsm.getJob(job)?.state).toBe("verifying");
  });

  it("does not touch live attempts of the reduce that reads a reset partial", () => {
    const d = new Driver();
    const job = mapsDone(d);
    d.ok(upsert("a"));
    d.start(job, "r-0-0", 1, "a");
    d.start(job, "r-1-1", 1, "a");
    const sent = d.reset(job, "m-0-0-0", "reduce r-0-0 read a corrupt partial");
    expect(names(sent.events)).toEqual(["task.reset"]);
    expect(d.fsm.getTask(job, "r-0-0")?.live.map((a) => a.attempt)).toEqual([1]);
    expect(d.fsm.getTask(job, "r-0-0")?.state).toBe("running");
    // The reset partial is needed (its reduce is not complete) and runnable.
    expect(d.fsm.getTask(job, "m-0-0-0")?.runnable).toBe(true);
    // The reduce's attempt may still complete: it stays complete, and the partial is no longer
    // needed. Recomputing it anyway is refused.
    expect(d.complete(job, "r-0-0", 1, "a").reply.ok).toBe(true);
    expect(d.fsm.getTask(job, "m-0-0-0")?.runnable).toBe(false);
    // The other path: the reading reduce fails instead; then the partial is recomputed and only
    // then the reduce is ready again (one reduce-ready event).
    d.reset(job, "m-1-1-0", "corrupt");
    d.send({
      type: "attempt-fail",
      jobId: job,
      taskId: "r-1-1",
      attempt: 1,
      reason: "TESSERA_E_STORAGE_CHECKSUM",
      retryable: true,
    });
    expect(d.fsm.getTask(job, "r-1-1")).toMatchObject({ state: "pending", runnable: false });
    const rerun = d.run(job, "m-1-1-0", "a");
    expect(names(rerun.events)).toEqual(["task.completed", "task.reduce-ready"]);
    expect(d.fsm.getTask(job, "r-1-1")?.runnable).toBe(true);
  });

  it("is refused for unknown jobs and tasks, finished jobs, and bad fields", () => {
    const d = new Driver();
    expect(d.reset("ghost", "m-0-0-0").reply).toMatchObject({ ok: false, code: "unknown-job" });
    const job = mapsDone(d);
    expect(d.reset(job, "m-0-0-2").reply).toMatchObject({ ok: false, code: "unknown-task" });
    const schema = d.send({ type: "task-reset", jobId: job, taskId: "m-0-0-0" });
    expect(schema.reply).toEqual({
      ok: false,
      code: "schema-error",
      reason: "manifest command: /cmd/reason: is required",
    });
    d.ok({ type: "job-control", jobId: job, action: "cancel" });
    const cancelled = d.reset(job, "m-0-0-0");
    expect(cancelled.reply).toMatchObject({ ok: false, code: "job-finished" });
    expect(cancelled.events).toEqual([]);

    const f = d.submit(SMALL, "f");
    d.run(f, "m-0-0-0");
    d.start(f, "m-0-0-1", 1);
    d.send({
      type: "attempt-fail",
      jobId: f,
      taskId: "m-0-0-1",
      attempt: 1,
      reason: "bad input",
      retryable: false,
    });
    expect(d.reset(f, "m-0-0-0").reply).toMatchObject({ ok: false, code: "job-finished" });
    expect(d.fsm.getTask(f, "m-0-0-0")?.state).toBe("done");

    const s = computed(d, "s");
    d.verify(s);
    expect(d.reset(s, "r-0-0").reply).toMatchObject({ ok: false, code: "job-finished" });
  });

  it("counts resets per task and per job", () => {
    const d = new Driver();
    const job = mapsDone(d);
    for (let n = 0; n < 3; n++) {
      d.reset(job, "m-0-0-0");
      d.run(job, "m-0-0-0");
    }
    d.reset(job, "m-1-0-0");
    expect(d.fsm.getTask(job, "m-0-0-0")).toMatchObject({ resets: 3, lastAttempt: 4 });
    expect(d.fsm.getJob(job)?.counts.resets).toBe(4);
  });
});

describe("output-verified", () => {
  it("marks a completed output durable once (a bit per task), without events", () => {
    const d = new Driver();
    const job = mapsDone(d);
    const sent = d.ok({ type: "output-verified", jobId: job, taskId: "m-0-0-0" });
    expect(sent.reply).toEqual({
      ok: true,
      result: { jobId: job, taskId: "m-0-0-0", attempt: 1, changed: true, verifiedOutputs: 1 },
    });
    expect(sent.events).toEqual([]);
    expect(d.fsm.getTask(job, "m-0-0-0")?.output).toMatchObject({ verified: true });
    expect(d.fsm.getTask(job, "m-0-0-1")?.output).toMatchObject({ verified: false });
    const again = d.ok({ type: "output-verified", jobId: job, taskId: "m-0-0-0", attempt: 1 });
    expect(again.reply).toMatchObject({ result: { changed: false, verifiedOutputs: 1 } });
    d.ok({ type: "output-verified", jobId: job, taskId: "m-1-1-1" });
    expect(d.fsm.getJob(job)?.counts.verifiedOutputs).toBe(2);
    // A reset forgets the output and its mark.
    d.reset(job, "m-0-0-0");
    expect(d.fsm.getJob(job)?.counts.verifiedOutputs).toBe(1);
    d.run(job, "m-0-0-0");
    expect(d.fsm.getTask(job, "m-0-0-0")?.output).toMatchObject({ attempt: 2, verified: false });
  });

  it("refuses tasks without output, stale attempts, unknown tasks and failed jobs", () => {
    const d = new Driver();
    const job = mapsDone(d);
    const pending = d.send({ type: "output-verified", jobId: job, taskId: "r-0-0" });
    expect(pending.reply).toMatchObject({ ok: false, code: "task-not-complete" });
    expect(reasonOf(pending)).toContain("has no output (task pending)");
    d.reset(job, "m-0-1-1");
    d.run(job, "m-0-1-1");
    const stale = d.send({ type: "output-verified", jobId: job, taskId: "m-0-1-1", attempt: 1 });
    expect(stale.reply).toMatchObject({ ok: false, code: "stale-attempt" });
    expect(d.fsm.getJob(job)?.counts.verifiedOutputs).toBe(0);
    expect(d.send({ type: "output-verified", jobId: job, taskId: "x-0-0" }).reply).toMatchObject({
      ok: false,
      code: "schema-error",
    });
    expect(d.send({ type: "output-verified", jobId: job, taskId: "m-9-0-0" }).reply).toMatchObject({
      ok: false,
      code: "unknown-task",
    });
    d.ok({ type: "job-control", jobId: job, action: "cancel" });
    expect(d.send({ type: "output-verified", jobId: job, taskId: "m-0-0-0" }).reply).toMatchObject({
      ok: false,
      code: "job-finished",
    });
  });
});

describe("outputs-verified", () => {
  it("judges each output as if sent alone: sound ones count, refused ones are named", () => {
    const d = new Driver();
    const job = mapsDone(d);
    d.ok({ type: "output-verified", jobId: job, taskId: "m-0-0-1" });
    d.reset(job, "m-0-1-1");
    d.run(job, "m-0-1-1"); // now attempt 2
    const sent = d.ok({
      type: "outputs-verified",
      jobId: job,
      outputs: [
        { taskId: "m-0-0-0", attempt: 1 },
        { taskId: "m-0-0-1" }, // already marked
        { taskId: "m-0-1-1", attempt: 1 }, // stale
        { taskId: "r-0-0" }, // no output yet
        { taskId: "m-9-0-0" }, // no such task
        { taskId: "m-1-1-1" },
      ],
    });
    expect(sent.events).toEqual([]);
    expect(sent.reply).toMatchObject({
      ok: true,
      result: {
        jobId: job,
        changed: 2,
        verifiedOutputs: 3,
        refused: [
          { taskId: "m-0-1-1", code: "stale-attempt" },
          { taskId: "r-0-0", code: "task-not-complete" },
          { taskId: "m-9-0-0", code: "unknown-task" },
        ],
      },
    });
    for (const t of ["m-0-0-0", "m-0-0-1", "m-1-1-1"]) {
      expect(d.fsm.getTask(job, t)?.output, t).toMatchObject({ verified: true });
    }
    expect(d.fsm.getTask(job, "m-0-1-1")?.output).toMatchObject({ verified: false });
    expect(d.fsm.getJob(job)?.counts.verifiedOutputs).toBe(3);
    d.ok({ type: "job-control", jobId: job, action: "cancel" });
    expect(
      d.send({ type: "outputs-verified", jobId: job, outputs: [{ taskId: "m-0-0-0" }] }).reply,
    ).toMatchObject({ ok: false, code: "job-finished" });
  });
});

describe("job-verified", () => {
  it("succeeds the job on a positive verdict that names the committed digest", () => {
    const d = new Driver();
    const job = computed(d);
    const digest = outputDigest(REDUCES.map((t) => checksumOf(job, t)));
    expect(d.fsm.getJob(job)).toMatchObject({ verified: null, outputDigest: digest });
    const sent = d.ok({ type: "job-verified", jobId: job, verified: true, digest });
    expect(sent.reply).toEqual({
      ok: true,
      result: {
        jobId: job,
        state: "succeeded",
        verified: true,
        changed: true,
        outputDigest: digest,
      },
    });
    expect(sent.events).toEqual([
      { category: "job", type: "verified", jobId: job, verified: true, outputDigest: digest },
      { category: "job", type: "succeeded", jobId: job, outputDigest: digest },
    ]);
    expect(d.fsm.getJob(job)).toMatchObject({
      state: "succeeded",
      verified: true,
      failure: null,
      finishedAt: sent.entry.stampedAt,
    });
    // The same verdict again (another manager, no session) answers the same; a contrary one is late.
    const again = d.verify(job, true, { digest });
    expect(again.reply).toMatchObject({ ok: true, result: { changed: false, state: "succeeded" } });
    expect(again.events).toEqual([]);
    expect(d.verify(job, false, { reason: "x" }).reply).toMatchObject({
      ok: false,
      code: "job-finished",
    });
  });

  it("refuses a digest that is not the committed one; the job stays verifying", () => {
    const d = new Driver();
    const job = computed(d);
    const sent = d.verify(job, true, { digest: "0".repeat(64) });
    expect(sent.reply).toMatchObject({ ok: false, code: "digest-mismatch" });
    expect(reasonOf(sent)).toContain(`is not job ${job}'s output digest`);
    expect(sent.events).toEqual([]);
    expect(d.fsm.getJob(job)).toMatchObject({ state: "verifying", verified: null });
  });

  it("fails the job on a negative verdict, with the reason and no task", () => {
    const d = new Driver();
    const job = computed(d);
    const digest = d.fsm.getJob(job)?.outputDigest;
    const sent = d.verify(job, false, { reason: "Freivalds: C(1,0) wrong" });
    const reason = "verification failed: Freivalds: C(1,0) wrong";
    expect(sent.reply).toMatchObject({ ok: true, result: { state: "failed", verified: false } });
    expect(sent.events).toEqual([
      {
        category: "job",
        type: "verified",
        jobId: job,
        verified: false,
        outputDigest: digest,
        reason,
      },
      { category: "job", type: "failed", jobId: job, reason, released: 0 },
    ]);
    expect(d.fsm.getJob(job)).toMatchObject({
      state: "failed",
      verified: false,
      failure: { taskId: null, reason },
      outputDigest: digest,
    });
    expect(d.verify(job, false).reply).toMatchObject({ ok: true, result: { changed: false } });
    expect(d.verify(job, true).reply).toMatchObject({ ok: false, code: "job-finished" });
    // Without a reason, the failure still says what happened.
    const other = computed(d, "k");
    d.verify(other, false);
    expect(d.fsm.getJob(other)?.failure?.reason).toBe("verification failed: no reason given");
  });

  it("is refused before the job is computed and for unknown or cancelled jobs", () => {
    const d = new Driver();
    expect(d.verify("ghost", false).reply).toMatchObject({ ok: false, code: "unknown-job" });
    const job = mapsDone(d);
    expect(d.verify(job, false, { reason: "early" }).reply).toMatchObject({
      ok: false,
      code: "job-not-computed",
    });
    expect(d.fsm.getJob(job)?.state).toBe("running");
    const queued = d.submit(SMALL, "q");
    expect(d.verify(queued, false).reply).toMatchObject({ code: "job-not-computed" });
    const c = computed(d, "c");
    d.ok({ type: "job-control", jobId: c, action: "cancel" });
    expect(d.verify(c, true, { digest: "a".repeat(64) }).reply).toMatchObject({
      code: "job-finished",
    });
  });

  it("requires a digest with a positive verdict (schema, by field path)", () => {
    const d = new Driver();
    const job = computed(d);
    expect(d.send({ type: "job-verified", jobId: job, verified: true }).reply).toEqual({
      ok: false,
      code: "schema-error",
      reason: "manifest command: /cmd/digest: is required when verified is true",
    });
    expect(
      d.send({ type: "job-verified", jobId: job, verified: true, digest: "ABC" }).reply,
    ).toEqual({
      ok: false,
      code: "schema-error",
      reason: "manifest command: /cmd/digest: must be a SHA-256 as 64 lowercase hex characters",
    });
  });

  it("verifying: pause and resume change nothing, cancel still works", () => {
    const d = new Driver();
    const job = computed(d);
    for (const action of ["pause", "resume"] as const) {
      const sent = d.ok({ type: "job-control", jobId: job, action });
      expect(sent.reply).toMatchObject({ result: { state: "verifying", changed: false } });
      expect(sent.events).toEqual([]);
    }
    const cancelled = d.ok({ type: "job-control", jobId: job, action: "cancel" });
    expect(names(cancelled.events)).toEqual(["job.cancelled"]);
    expect(d.fsm.getJob(job)).toMatchObject({ state: "cancelled", verified: null });
  });

  it("a paused job whose last reduce completes is computed (nothing is left to hold back)", () => {
    const d = new Driver();
    const job = mapsDone(d);
    for (const t of REDUCES.slice(0, 3)) d.run(job, t);
    d.start(job, "r-1-1", 1);
    d.ok({ type: "job-control", jobId: job, action: "pause" });
    const last = d.complete(job, "r-1-1", 1);
    expect(last.reply).toMatchObject({ ok: true, result: { jobState: "verifying" } });
    expect(names(last.events)).toEqual(["task.completed", "job.computed"]);
    expect(d.verify(job).reply).toMatchObject({ ok: true, result: { state: "succeeded" } });
  });
});

describe("attempt-complete at least once", () => {
  it("answers a repeated completion of the winning attempt with alreadyComplete, in any job state", () => {
    const d = new Driver();
    const job = mapsDone(d);
    const before = d.fsm.getJob(job);
    const again = d.complete(job, "m-0-0-0", 1);
    expect(again.reply).toEqual({
      ok: true,
      result: {
        jobId: job,
        taskId: "m-0-0-0",
        attempt: 1,
        alreadyComplete: true,
        jobState: "running",
      },
    });
    expect(again.events).toEqual([]);
    expect(d.fsm.getJob(job)).toEqual(before);
    for (const t of REDUCES) d.run(job, t);
    expect(d.complete(job, "r-0-0", 1).reply).toMatchObject({
      ok: true,
      result: { alreadyComplete: true, jobState: "verifying" },
    });
    d.verify(job);
    expect(d.complete(job, "r-0-0", 1).reply).toMatchObject({
      ok: true,
      result: { alreadyComplete: true, jobState: "succeeded" },
    });
  });

  it("refuses the same attempt with a different output, and a superseded attempt", () => {
    const d = new Driver();
    const job = d.submit(SMALL, "j");
    d.start(job, "m-0-0-0", 1);
    d.start(job, "m-0-0-0", 2, undefined, true);
    d.complete(job, "m-0-0-0", 2);
    const output = {
      uri: uriOf(job, "m-0-0-0"),
      checksum: checksumOf(job, "m-0-0-0"),
      bytes: 1024,
    };
    const cmd = {
      type: "attempt-complete",
      jobId: job,
      taskId: "m-0-0-0",
      attempt: 2,
      nodeId: "x",
    };
    const other = d.send({ ...cmd, output: { ...output, bytes: 99 } });
    expect(other.reply).toMatchObject({ ok: false, code: "stale-attempt" });
    expect(reasonOf(other)).toContain("already completed with a different output");
    const moved = d.send({ ...cmd, output: { ...output, uri: uriOf(job, "m-0-0-0", "s3://b/") } });
    expect(moved.reply).toMatchObject({ ok: false, code: "stale-attempt" });
    // The loser of the race (its attempt was released) is refused: it is not an idempotent repeat.
    const lost = d.complete(job, "m-0-0-0", 1);
    expect(lost.reply).toMatchObject({ ok: false, code: "stale-attempt" });
    expect(reasonOf(lost)).toContain("already completed by attempt 2; attempt 1 lost");
    expect(d.fsm.getTask(job, "m-0-0-0")?.output).toMatchObject({ attempt: 2, bytes: 1024 });
  });
});

describe("snapshots with storage state", () => {
  it("round-trips resets, verified outputs and verdicts; the digest covers them", () => {
    const d = new Driver();
    const ok = computed(d, "ok");
    d.verify(ok);
    const bad = computed(d, "bad");
    d.verify(bad, false, { reason: "wrong tile" });
    const mid = mapsDone(d, "mid");
    d.reset(mid, "m-1-0-1");
    d.ok({ type: "output-verified", jobId: mid, taskId: "m-0-0-0" });
    const fresh = computed(d, "fresh");

    const restored = new ManifestFsm();
    restored.restore(d.fsm.snapshot());
    expect(restored.digest()).toBe(d.fsm.digest());
    expect(restored.listJobs()).toEqual(d.fsm.listJobs());
    for (const t of ["m-1-0-1", "m-0-0-0"]) {
      expect(restored.getTask(mid, t)).toEqual(d.fsm.getTask(mid, t));
    }
    expect(restored.getJob(bad)?.failure).toEqual({
      taskId: null,
      reason: "verification failed: wrong tile",
    });
    expect(restored.getJob(fresh)?.computedAt).not.toBeNull();

    // The verified bit is part of the state image: two replicas that differ only in it (the
    // session replies are acknowledged away) have different digests.
    const x = new ManifestFsm();
    const y = new ManifestFsm();
    x.restore(d.fsm.snapshot());
    y.restore(d.fsm.snapshot());
    const at = d.index;
    const step = (
      f: ManifestFsm,
      i: number,
      cmd: Record<string, unknown>,
      seq: number,
      ackedSeq?: number,
    ) => f.apply(entry(at + i, envelopeBytes(cmd, "checker", seq, ackedSeq), T0 + 10_000));
    step(x, 1, { type: "output-verified", jobId: mid, taskId: "m-0-1-1" }, 1);
    step(y, 1, { type: "noop" }, 1);
    step(x, 2, { type: "noop" }, 2, 1);
    step(y, 2, { type: "noop" }, 2, 1);
    expect(x.getJob(mid)?.counts.verifiedOutputs).toBe(2);
    expect(y.getJob(mid)?.counts.verifiedOutputs).toBe(1);
    expect(x.digest()).not.toBe(y.digest());
  });

  it("restores a version-1 snapshot (no verification state): verified null, no resets", () => {
    const snap = v1Snapshot();
    const fsm = new ManifestFsm();
    fsm.restore(snap);
    expect(fsm.appliedIndex).toBe(9);
    const a = fsm.getJob("a");
    expect(a).toMatchObject({
      state: "running",
      verified: null,
      computedAt: null,
      outputDigest: null,
      counts: { done: 1, running: 1, resets: 0, verifiedOutputs: 0 },
    });
    expect(fsm.getTask("a", "m-0-0-0")).toMatchObject({
      state: "done",
      resets: 0,
      output: {
        uri: "file:///data/jobs/a/partials/0-0-0.tile",
        checksum: "deadbeef",
        bytes: 1024,
        attempt: 1,
        verified: false,
      },
    });
    expect(fsm.getTask("a", "m-0-0-1")?.live).toEqual([
      expect.objectContaining({ attempt: 1, nodeId: null, startedAt: T0 + 20 }),
    ]);
    // A job that succeeded under v1 was never verified: succeeded, verified null.
    expect(fsm.getJob("b")).toMatchObject({
      state: "succeeded",
      verified: null,
      outputDigest: "ab".repeat(32),
      computedAt: T0 + 40,
      finishedAt: T0 + 40,
      counts: { done: 12 },
    });
    // It keeps applying, writes the current version, and that restores to the same digest.
    const d = new Driver(fsm);
    d.index = fsm.appliedIndex;
    expect(d.reset("a", "m-0-0-0", "bad", 1).reply).toMatchObject({ ok: true });
    expect(d.complete("a", "m-0-0-1", 1).reply.ok).toBe(true);
    const next = fsm.snapshot();
    // Feature level 1 writes v6, which holds the newest job records (v7 adds node fields).
    expect(new DataView(next.buffer, next.byteOffset).getUint16(4, true)).toBe(6);
    const again = new ManifestFsm();
    again.restore(next);
    expect(again.digest()).toBe(fsm.digest());
  });
});

/**
 * A version-1 snapshot written byte by byte from the v1 layout (README "Snapshot format"),
 * independent of the current writer: jobs "a" (running, one task done, one live attempt) and
 * "b" (succeeded under v1), no nodes, no sessions.
 */
function v1Snapshot(): Uint8Array {
  const w = new ChunkWriter();
  w.f64(9); // appliedIndex
  w.f64(1); // appliedTerm
  w.f64(T0 + 90); // logTime
  w.bool(false); // emergencyStop
  w.u32(0); // nodes
  w.u32(2); // jobs
  const total = 12; // K = 2: 8 maps + 4 reduces
  const job = (
    id: string,
    state: number,
    finishedAt: number,
    digest: string,
    fill: (cols: {
      state: Uint8Array;
      lastAttempt: Uint32Array;
      winAttempt: Uint32Array;
      crc: Uint32Array;
      bytes: Uint32Array;
    }) => void,
    live: () => void,
  ) => {
    w.str(id);
    w.u32(32);
    w.u32(16);
    w.u8(0); // exact
    w.u32(7);
    w.u8(state);
    w.u8(4); // maxAttempts
    w.f64(1); // submitIndex
    w.f64(T0); // submittedAt
    w.f64(T0 + 10); // startedAt
    w.f64(finishedAt);
    w.str(digest);
    w.bool(false); // no failure
    w.u8(1);
    w.str("file:///data/");
    w.u32(0); // overrides
    w.u32(total);
    const cols = {
      state: new Uint8Array(total),
      lastAttempt: new Uint32Array(total),
      winAttempt: new Uint32Array(total),
      crc: new Uint32Array(total),
      bytes: new Uint32Array(total),
    };
    fill(cols);
    w.raw(cols.state);
    w.raw(cols.lastAttempt);
    w.raw(cols.winAttempt);
    w.raw(new Uint16Array(total)); // retries
    w.raw(new Uint8Array(total)); // failures
    w.raw(cols.crc);
    w.raw(cols.bytes);
    w.raw(new Uint8Array(total)); // uriPrefix (all prefix 0)
    live();
  };
  job(
    "a",
    1, // running
    -1,
    "",
    (c) => {
      c.state[0] = 2; // m-0-0-0 done
      c.lastAttempt[0] = 1;
      c.winAttempt[0] = 1;
      c.crc[0] = 0xdeadbeef;
      c.bytes[0] = 1024;
      c.state[1] = 1; // m-0-0-1 running
      c.lastAttempt[1] = 1;
    },
    () => {
      w.u32(1);
      w.u32(1); // ordinal of m-0-0-1
      w.u8(1);
      w.u32(1); // attempt
      w.str(""); // unbound
      w.f64(T0 + 20);
      w.f64(-1);
      w.bool(false);
      w.f64(-1);
    },
  );
  job(
    "b",
    5, // succeeded
    T0 + 40,
    "ab".repeat(32),
    (c) => {
      c.state.fill(2);
      c.lastAttempt.fill(1);
      c.winAttempt.fill(1);
      c.crc.fill(1);
      c.bytes.fill(4);
    },
    () => w.u32(0),
  );
  w.u32(0); // sessions
  const out = w.concat(20);
  const body = out.subarray(20);
  const view = new DataView(out.buffer, out.byteOffset, 20);
  view.setUint32(0, 0x4d465354, true);
  view.setUint16(4, 1, true);
  view.setUint16(6, 0, true);
  view.setUint32(8, crc32cOf(body), true);
  view.setFloat64(12, body.byteLength, true);
  return out;
}
