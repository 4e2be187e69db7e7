import { crc32cOf, outputDigest } from "@tessera/matrix";
import { type ManifestEvent, manifestEventBatchCodec } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import { FsmSnapshotError } from "./errors.js";
import {
  checksumOf,
  Driver,
  entry,
  envelopeBytes,
  prng,
  T0,
  upsert,
  uriOf,
} from "./fsm.test-helpers.js";
import { ManifestFsm } from "./manifest-fsm.js";

/** K = 2: 8 maps (m-i-j-k), 4 reduces (r-i-j). */
const SMALL = { n: 32, tile: 16, mode: "exact", seed: 7 } as const;
/** K = 4: 64 maps, 16 reduces. */
const MEDIUM = { n: 64, tile: 16, mode: "exact", seed: 1 } as const;
/** K = 4, two inner tiles per map: 32 maps (m-i-j-0, m-i-j-1), 16 reduces of 2 partials. */
const GROUPED = { ...MEDIUM, kPerMap: 2 } as const;

const names = (events: ManifestEvent[]) => events.map((e) => `${e.category}.${e.type}`);

function maps(K: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < K; i++)
    for (let j = 0; j < K; j++) for (let k = 0; k < K; k++) out.push(`m-${i}-${j}-${k}`);
  return out;
}
function reduces(K: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) out.push(`r-${i}-${j}`);
  return out;
}

describe("submit-job", () => {
  it("assigns job-<index>, derives the tasks from the spec and emits job.submitted", () => {
    const d = new Driver();
    const sent = d.ok({ type: "submit-job", spec: MEDIUM });
    expect(sent.reply).toEqual({
      ok: true,
      result: { jobId: "job-1", state: "queued", maps: 64, reduces: 16 },
    });
    expect(names(sent.events)).toEqual(["job.submitted"]);
    const job = d.fsm.getJob("job-1");
    expect(job?.state).toBe("queued");
    expect(job?.counts).toMatchObject({ tasks: 80, maps: 64, reduces: 16, pending: 80, done: 0 });
    expect(job?.maxAttempts).toBe(4);
    expect(d.fsm.getTask("job-1", "m-3-3-3")?.state).toBe("pending");
    expect(d.fsm.getTask("job-1", "m-4-0-0")).toBeUndefined();
  });

  it("is idempotent for the same id and spec, and refuses the id for another spec", () => {
    const d = new Driver();
    d.submit(SMALL, "j");
    expect(d.ok({ type: "submit-job", jobId: "j", spec: SMALL }).reply).toMatchObject({
      result: { existing: true },
    });
    expect(d.code({ type: "submit-job", jobId: "j", spec: { ...SMALL, seed: 8 } })).toBe(
      "job-exists",
    );
    expect(d.fsm.listJobs()).toHaveLength(1);
  });

  it("refuses a job over the task limit by name", () => {
    const d = Driver.withOptions({ limits: { maxTasksPerJob: 100 } });
    const sent = d.send({ type: "submit-job", spec: { ...SMALL, n: 128 } });
    expect(sent.reply).toMatchObject({ ok: false, code: "job-too-large" });
    expect(d.fsm.listJobs()).toHaveLength(0);
  });
});

describe("fencing", () => {
  it("accepts only the next attempt number, one live attempt plus one speculative", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.ok(upsert("a"));
    d.ok(upsert("b"));
    d.ok(upsert("c"));
    const started = d.start(job, "m-0-0-0", 1, "a");
    expect(started.reply).toMatchObject({ ok: true, result: { attempt: 1, speculative: false } });
    expect(names(started.events)).toEqual(["job.started", "task.started"]);

    expect(d.code({ type: "attempt-start", jobId: job, taskId: "m-0-0-0", attempt: 1 })).toBe(
      "stale-attempt",
    );
    const skip = d.start(job, "m-0-0-0", 3);
    expect(skip.reply).toMatchObject({ ok: false, code: "stale-attempt" });
    expect(skip.reply.ok ? "" : skip.reply.reason).toContain("expected 2");
    expect(d.start(job, "m-0-0-0", 2, "b").reply).toMatchObject({ ok: false, code: "task-busy" });
    expect(d.start(job, "m-0-0-0", 2, "b", true).reply).toMatchObject({
      ok: true,
      result: { speculative: true },
    });
    expect(d.start(job, "m-0-0-0", 3, "c", true).reply).toMatchObject({
      ok: false,
      code: "task-busy",
    });
    expect(d.fsm.getTask(job, "m-0-0-0")?.live.map((a) => a.attempt)).toEqual([1, 2]);
  });

  it("first completion wins; the loser is released with an event and then refused", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.ok(upsert("a"));
    d.ok(upsert("b"));
    d.start(job, "m-0-0-0", 1, "a");
    d.start(job, "m-0-0-0", 2, "b", true);
    const won = d.complete(job, "m-0-0-0", 2, "b");
    expect(won.reply.ok).toBe(true);
    expect(won.events).toEqual([
      expect.objectContaining({ category: "task", type: "completed", attempt: 2, nodeId: "b" }),
      {
        category: "task",
        type: "attempt-released",
        jobId: job,
        taskId: "m-0-0-0",
        attempt: 1,
        nodeId: "a",
        reason: "lost-race",
      },
    ]);
    const lost = d.complete(job, "m-0-0-0", 1, "a");
    expect(lost.reply).toMatchObject({ ok: false, code: "stale-attempt" });
    expect(lost.events).toEqual([]);
    // The winner re-reporting under a new session is answered, not refused.
    expect(d.complete(job, "m-0-0-0", 2, "b").reply).toMatchObject({
      ok: true,
      result: { alreadyComplete: true },
    });
    const task = d.fsm.getTask(job, "m-0-0-0");
    expect(task?.state).toBe("done");
    expect(task?.output).toEqual({
      uri: uriOf(job, "m-0-0-0"),
      checksum: checksumOf(job, "m-0-0-0"),
      bytes: 1024,
      attempt: 2,
      verified: false,
    });
    expect(d.start(job, "m-0-0-0", 3).reply).toMatchObject({ ok: false, code: "task-complete" });
  });

  it("refuses claims and completions for attempts that are not live or held by another node", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.ok(upsert("a"));
    d.ok(upsert("b"));
    const claim = (attempt: number, nodeId: string) =>
      d.send({ type: "attempt-claim", jobId: job, taskId: "m-1-0-1", attempt, nodeId });
    expect(claim(1, "a").reply).toMatchObject({ ok: false, code: "stale-attempt" });
    d.start(job, "m-1-0-1", 1);
    const claimed = claim(1, "a");
    expect(claimed.reply).toMatchObject({ ok: true, result: { alreadyClaimed: false } });
    expect(names(claimed.events)).toEqual(["task.claimed"]);
    expect(claim(1, "a").reply).toMatchObject({ ok: true, result: { alreadyClaimed: true } });
    expect(claim(1, "b").reply).toMatchObject({ ok: false, code: "stale-attempt" });
    expect(d.complete(job, "m-1-0-1", 1, "b").reply).toMatchObject({
      ok: false,
      code: "stale-attempt",
    });
    expect(d.complete(job, "m-1-0-1", 1, "a").reply.ok).toBe(true);
    // An agent may claim before its node-upsert is applied; a failed node may not.
    d.start(job, "m-1-1-1", 1);
    expect(
      d.send({ type: "attempt-claim", jobId: job, taskId: "m-1-1-1", attempt: 1, nodeId: "new" })
        .reply.ok,
    ).toBe(true);
    d.ok({ type: "node-failed", nodeId: "b", reason: "x" });
    d.start(job, "m-1-1-0", 1);
    expect(
      d.send({ type: "attempt-claim", jobId: job, taskId: "m-1-1-0", attempt: 1, nodeId: "b" })
        .reply,
    ).toMatchObject({ ok: false, code: "node-unavailable" });
    expect(d.start(job, "m-0-0-0", 1, "ghost").reply).toMatchObject({ code: "unknown-node" });
  });
});

describe("exactly-once sessions", () => {
  it("returns the first reply for a repeated (clientId, seq) without applying it again", () => {
    const d = new Driver();
    const first = d.send({ type: "submit-job", spec: SMALL }, { clientId: "c1", seq: 1 });
    const digest = d.fsm.digest();
    const again = d.send({ type: "submit-job", spec: SMALL }, { clientId: "c1", seq: 1 });
    expect(again.reply).toEqual({ ...first.reply, duplicate: true });
    expect(again.events).toEqual([]);
    expect(d.fsm.listJobs()).toHaveLength(1);
    // Only the applied index moved.
    expect(d.fsm.digest()).not.toBe(digest);
    expect(d.fsm.listJobs().map((j) => j.jobId)).toEqual(["job-1"]);
    // Another client with the same seq is a different command.
    d.send({ type: "submit-job", spec: SMALL }, { clientId: "c2", seq: 1 });
    expect(d.fsm.listJobs()).toHaveLength(2);
  });

  it("caches rejections too, so a retried bad command answers the same", () => {
    const d = new Driver();
    const r1 = d.send({ type: "job-control", jobId: "nope", action: "pause" }, { seq: 5 });
    const r2 = d.send({ type: "job-control", jobId: "nope", action: "pause" }, { seq: 5 });
    expect(r1.reply).toMatchObject({ ok: false, code: "unknown-job" });
    expect(r2.reply).toEqual({ ...r1.reply, duplicate: true });
  });

  it("applies out-of-order seqs once each, and refuses seqs at or below the acked floor", () => {
    const d = new Driver();
    d.ok({ type: "noop" }, { clientId: "c", seq: 3 });
    d.ok({ type: "noop" }, { clientId: "c", seq: 2 });
    expect(d.send({ type: "noop" }, { clientId: "c", seq: 2 }).reply).toMatchObject({
      duplicate: true,
    });
    // The client says it has the replies up to 3: they are dropped, and 2 can never run again.
    d.ok({ type: "noop" }, { clientId: "c", seq: 4, ackedSeq: 3 });
    expect(d.send({ type: "noop" }, { clientId: "c", seq: 2 }).reply).toMatchObject({
      ok: false,
      code: "stale-seq",
    });
    expect(d.send({ type: "noop" }, { clientId: "c", seq: 4 }).reply).toMatchObject({
      duplicate: true,
    });
  });

  it("bounds the replies kept per session and the number of sessions", () => {
    const d = Driver.withOptions({ sessions: { maxRepliesPerSession: 3, maxSessions: 2 } });
    for (let seq = 1; seq <= 5; seq++) d.ok({ type: "noop" }, { clientId: "c", seq });
    expect(d.send({ type: "noop" }, { clientId: "c", seq: 2 }).reply).toMatchObject({
      code: "stale-seq",
    });
    expect(d.send({ type: "noop" }, { clientId: "c", seq: 5 }).reply).toMatchObject({
      duplicate: true,
    });
    d.ok({ type: "noop" }, { clientId: "x", seq: 1 });
    d.ok({ type: "noop" }, { clientId: "y", seq: 1 });
    expect(d.fsm.stats().sessions).toBe(2);
    // "c" was least recently used and evicted: it starts afresh (documented TTL/LRU trade-off).
    expect(d.send({ type: "noop" }, { clientId: "c", seq: 5 }).reply).toEqual({
      ok: true,
      result: { index: d.index },
    });
  });

  it("expires idle sessions by stamped log time, not by a local clock", () => {
    const d = Driver.withOptions({ sessions: { ttlMs: 1000 } });
    d.ok({ type: "noop" }, { clientId: "old", seq: 1, stampedAt: T0 });
    d.ok({ type: "noop" }, { clientId: "new", seq: 1, stampedAt: T0 + 5000 });
    expect(d.fsm.stats().sessions).toBe(1);
  });
});

describe("bad input never throws and names the reason", () => {
  it("answers garbage, schema errors, oversized payloads, unknown jobs/tasks", () => {
    const d = new Driver();
    const garbage = d.applyData(new Uint8Array([0xff, 0x00, 0x01]));
    expect(garbage.reply).toMatchObject({ ok: false, code: "schema-error" });
    const notJson = d.applyData(new TextEncoder().encode("{nope"));
    expect(notJson.reply.ok ? "" : notJson.reply.reason).toContain("not valid JSON");
    const schema = d.send({ type: "attempt-start", jobId: "j", taskId: "m-0-0-0", attempt: 0 });
    expect(schema.reply).toEqual({
      ok: false,
      code: "schema-error",
      reason: "manifest command: /cmd/attempt: must be an integer >= 1",
    });
    const big = d.applyData(
      envelopeBytes({ type: "node-failed", nodeId: "a", reason: "x".repeat(70_000) }, "c", 1),
    );
    expect(big.reply).toMatchObject({ ok: false, code: "oversized" });
    expect(big.reply.ok ? "" : big.reply.reason).toContain("exceeds the limit of 65536 bytes");
    expect(d.code({ type: "attempt-start", jobId: "ghost", taskId: "m-0-0-0", attempt: 1 })).toBe(
      "unknown-job",
    );
    const job = d.submit(SMALL);
    const outside = d.start(job, "m-0-0-2", 1);
    expect(outside.reply).toMatchObject({ ok: false, code: "unknown-task" });
    expect(outside.reply.ok ? "" : outside.reply.reason).toContain("outside the grid (K = 2)");
    expect(d.code({ type: "node-failed", nodeId: "ghost", reason: "x" })).toBe("unknown-node");
    expect(d.fsm.appliedIndex).toBe(d.index);
  });

  it("ignores an entry at or below the applied index without changing state", () => {
    const d = new Driver();
    d.submit(SMALL);
    const before = d.fsm.digest();
    const again = d.fsm.apply(entry(1, envelopeBytes({ type: "noop" }, "z", 1)));
    expect(new TextDecoder().decode(again.reply)).toContain("internal-error");
    expect(d.fsm.digest()).toBe(before);
  });
});

describe("map → reduce dependencies and job completion", () => {
  it("makes a reduce runnable only once all of its partials are complete", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    expect(d.start(job, "r-0-0", 1).reply).toMatchObject({ ok: false, code: "not-runnable" });
    expect([...d.fsm.runnableTasks(job)].map((t) => t.taskId)).toEqual(maps(2));
    d.run(job, "m-0-0-0");
    const notYet = d.start(job, "r-0-0", 1);
    expect(notYet.reply.ok ? "" : notYet.reply.reason).toContain("1 of 2 partials");
    const last = d.run(job, "m-0-0-1");
    expect(names(last.events)).toEqual(["task.completed", "task.reduce-ready"]);
    expect(last.events[1]).toMatchObject({ taskId: "r-0-0" });
    expect(d.fsm.getTask(job, "r-0-0")?.runnable).toBe(true);
    // Ready reduces come first in the scheduler's view.
    expect([...d.fsm.runnableTasks(job, 3)].map((t) => t.taskId)).toEqual([
      "r-0-0",
      "m-0-1-0",
      "m-0-1-1",
    ]);
    expect(d.start(job, "r-0-0", 1).reply.ok).toBe(true);
  });

  it("is computed (verifying) when every reduce completes, with the output digest in canonical order", () => {
    const d = new Driver();
    const job = d.submit(MEDIUM, "mm");
    for (const t of maps(4)) d.run(job, t);
    let last = d.run(job, "r-0-0");
    for (const t of reduces(4).slice(1)) last = d.run(job, t);
    const expected = outputDigest(reduces(4).map((t) => checksumOf(job, t)));
    expect(last.reply).toMatchObject({
      ok: true,
      result: { jobState: "verifying", outputDigest: expected },
    });
    expect(names(last.events)).toEqual(["task.completed", "job.computed"]);
    expect(last.events[1]).toEqual({
      category: "job",
      type: "computed",
      jobId: job,
      outputDigest: expected,
    });
    const view = d.fsm.getJob(job);
    expect(view?.state).toBe("verifying");
    expect(view?.verified).toBeNull();
    expect(view?.outputDigest).toBe(expected);
    expect(view?.counts).toMatchObject({ done: 80, pending: 0, running: 0, mapsDone: 64 });
    expect(view?.computedAt).toBe(last.entry.stampedAt);
    expect(view?.finishedAt).toBeNull();
    expect([...d.fsm.runnableTasks(job)]).toEqual([]);
    // Succeeded only once the storage-manager's verdict names the same digest.
    const verified = d.verify(job, true, { digest: expected });
    expect(names(verified.events)).toEqual(["job.verified", "job.succeeded"]);
    expect(d.fsm.getJob(job)).toMatchObject({
      state: "succeeded",
      verified: true,
      outputDigest: expected,
      finishedAt: verified.entry.stampedAt,
    });
  });

  it("with kPerMap = 2: K/2 maps per output tile, a reduce ready after 2 partials, kPerMap kept in snapshots", () => {
    const d = new Driver();
    const job = d.submit(GROUPED, "g");
    expect(d.fsm.getJob(job)?.counts).toMatchObject({ tasks: 48, maps: 32, reduces: 16 });
    expect(d.fsm.getJob(job)?.spec).toEqual(GROUPED);
    expect(d.start(job, "m-0-0-2", 1).reply).toMatchObject({ ok: false, code: "unknown-task" });
    d.run(job, "m-0-0-0");
    const notYet = d.start(job, "r-0-0", 1);
    expect(notYet.reply.ok ? "" : notYet.reply.reason).toContain("1 of 2 partials");
    expect(names(d.run(job, "m-0-0-1").events)).toEqual(["task.completed", "task.reduce-ready"]);
    // The same id with the default spec is another job.
    const other = d.send({ type: "submit-job", jobId: "g", spec: MEDIUM });
    expect(other.reply).toMatchObject({ ok: false, code: "job-exists" });
    const b = new ManifestFsm();
    b.restore(d.fsm.snapshot());
    expect(b.getJob(job)?.spec).toEqual(GROUPED);
    expect(b.digest()).toBe(d.fsm.digest());
    expect(b.getTask(job, "r-0-0")?.runnable).toBe(true);
  });

  it("an empty job: the same graph, empty outputs only, succeeded once every reduce completes", () => {
    const d = new Driver();
    const spec = { ...SMALL, mode: "empty" } as const;
    const job = d.submit(spec, "e");
    expect(d.fsm.getJob(job)?.spec).toEqual(spec);
    // A computed output is refused for it, and an empty output for a job that computes.
    const completeWith = (
      jobId: string,
      output: { uri: string; checksum: string; bytes: number },
    ) => {
      d.start(jobId, "m-0-0-0", 1);
      const cmd = { type: "attempt-complete", taskId: "m-0-0-0", attempt: 1, nodeId: "agent-1" };
      return d.send({ ...cmd, jobId, output });
    };
    const stored = completeWith(job, {
      uri: uriOf(job, "m-0-0-0"),
      checksum: "0000000a",
      bytes: 1024,
    });
    expect(stored.reply).toMatchObject({ ok: false, code: "bad-output" });
    expect(stored.reply.ok ? "" : stored.reply.reason).toContain(
      "empty:jobs/e/partials/0-0-0.tile",
    );
    const exact = d.submit(SMALL, "x");
    const pretended = completeWith(exact, {
      uri: "empty:jobs/x/partials/0-0-0.tile",
      checksum: "00000000",
      bytes: 0,
    });
    expect(pretended.reply).toMatchObject({ ok: false, code: "bad-output" });

    // Through the same fencing and dependencies as any job; no verdict to wait for.
    expect(d.complete(job, "m-0-0-0", 1).reply.ok).toBe(true);
    for (const t of maps(2).slice(1)) d.run(job, t);
    let last = d.run(job, "r-0-0");
    for (const t of reduces(2).slice(1)) last = d.run(job, t);
    expect(names(last.events)).toEqual(["task.completed", "job.computed", "job.succeeded"]);
    expect(last.reply).toMatchObject({ ok: true, result: { jobState: "succeeded" } });
    const view = d.fsm.getJob(job);
    expect(view).toMatchObject({
      state: "succeeded",
      verified: null,
      finishedAt: last.entry.stampedAt,
      counts: { done: 12, attempts: 12 },
    });
    expect(view?.outputDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(d.fsm.getTask(job, "r-1-1")?.output).toMatchObject({
      uri: "empty:jobs/e/C/1-1.tile",
      checksum: "00000000",
      bytes: 0,
    });
    // A verdict is refused (nothing was verified), and the mode survives a snapshot.
    expect(d.verify(job, true).reply).toMatchObject({ ok: false, code: "job-finished" });
    const b = new ManifestFsm();
    b.restore(d.fsm.snapshot());
    expect(b.getJob(job)).toEqual(view);
    expect(b.digest()).toBe(d.fsm.digest());
  });

  it("runs a whole job through runnableTasks like a scheduler would", () => {
    const d = new Driver();
    const job = d.submit(MEDIUM);
    let rounds = 0;
    while (d.fsm.getJob(job)?.state !== "verifying") {
      const batch = [...d.fsm.runnableTasks(job, 7)];
      expect(batch.length).toBeGreaterThan(0);
      for (const t of batch) {
        expect(d.start(job, t.taskId, t.nextAttempt).reply.ok).toBe(true);
        expect(d.complete(job, t.taskId, t.nextAttempt).reply.ok).toBe(true);
      }
      rounds++;
    }
    // Reduces appear as their partials finish, so the last rounds can be short.
    expect(rounds).toBeLessThanOrEqual(Math.ceil(80 / 7) + 2);
    expect(d.fsm.getJob(job)?.counts.done).toBe(80);
  });
});

describe("retries and failures", () => {
  it("re-queues a retryable failure and fails the job after maxAttempts", () => {
    const d = new Driver();
    const job = d.submit(SMALL, "j", 2);
    d.start(job, "m-0-0-0", 1);
    const f1 = d.send({
      type: "attempt-fail",
      jobId: job,
      taskId: "m-0-0-0",
      attempt: 1,
      reason: "oom",
      retryable: true,
    });
    expect(f1.reply).toMatchObject({ ok: true, result: { willRetry: true, failures: 1 } });
    expect(d.fsm.getTask(job, "m-0-0-0")).toMatchObject({ state: "pending", retries: 1 });
    expect([...d.fsm.runnableTasks(job, 1)][0]).toMatchObject({
      taskId: "m-0-0-0",
      nextAttempt: 2,
    });
    d.start(job, "m-0-0-1", 1);
    d.start(job, "m-0-0-0", 2);
    const f2 = d.send({
      type: "attempt-fail",
      jobId: job,
      taskId: "m-0-0-0",
      attempt: 2,
      reason: "oom again",
      retryable: true,
    });
    expect(names(f2.events)).toEqual([
      "task.attempt-failed",
      "task.failed",
      "task.attempt-released",
      "job.failed",
    ]);
    expect(f2.events[2]).toMatchObject({ taskId: "m-0-0-1", reason: "job-failed" });
    const view = d.fsm.getJob(job);
    expect(view?.state).toBe("failed");
    expect(view?.failure?.taskId).toBe("m-0-0-0");
    // m-0-0-0 started twice, m-0-0-1 once: every attempt counts, the failed ones included.
    expect(view?.counts).toMatchObject({ failed: 1, liveAttempts: 0, attempts: 3 });
    expect(d.start(job, "m-0-1-0", 1).reply).toMatchObject({ code: "job-finished" });
  });

  it("fails at once on a non-retryable failure", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.start(job, "m-0-0-0", 1);
    const f = d.send({
      type: "attempt-fail",
      jobId: job,
      taskId: "m-0-0-0",
      attempt: 1,
      reason: "bad input tile",
      retryable: false,
    });
    expect(f.reply).toMatchObject({ ok: true, result: { willRetry: false, jobState: "failed" } });
    expect(d.fsm.getJob(job)?.failure?.reason).toBe("non-retryable failure: bad input tile");
  });

  it("expires an attempt: the task is re-queued without counting a failure", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.start(job, "m-0-0-0", 1);
    const x = d.send({
      type: "attempt-expire",
      jobId: job,
      taskId: "m-0-0-0",
      attempt: 1,
      reason: "deadline",
    });
    expect(names(x.events)).toEqual(["task.attempt-expired"]);
    expect(d.fsm.getTask(job, "m-0-0-0")).toMatchObject({
      state: "pending",
      retries: 1,
      failures: 0,
    });
    expect(
      d.code({ type: "attempt-expire", jobId: job, taskId: "m-0-0-0", attempt: 1, reason: "x" }),
    ).toBe("stale-attempt");
  });
});

describe("controls", () => {
  it("pause stops new attempts but lets live ones finish; resume continues", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.start(job, "m-0-0-0", 1);
    const paused = d.ok({ type: "job-control", jobId: job, action: "pause" });
    expect(names(paused.events)).toEqual(["job.paused"]);
    expect(d.start(job, "m-0-0-1", 1).reply).toMatchObject({ ok: false, code: "job-paused" });
    expect([...d.fsm.runnableTasks(job)]).toEqual([]);
    expect(d.complete(job, "m-0-0-0", 1).reply.ok).toBe(true);
    expect(d.ok({ type: "job-control", jobId: job, action: "pause" }).reply).toMatchObject({
      result: { changed: false },
    });
    const resumed = d.ok({ type: "job-control", jobId: job, action: "resume" });
    expect(resumed.events).toEqual([
      { category: "job", type: "resumed", jobId: job, state: "running" },
    ]);
    expect(d.start(job, "m-0-0-1", 1).reply.ok).toBe(true);
  });

  it("resuming a job paused before it started puts it back in the queue", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.ok({ type: "job-control", jobId: job, action: "pause" });
    d.ok({ type: "job-control", jobId: job, action: "resume" });
    expect(d.fsm.getJob(job)?.state).toBe("queued");
  });

  it("cancel releases live attempts and refuses everything after", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.ok(upsert("a"));
    d.start(job, "m-0-0-0", 1, "a");
    d.start(job, "m-1-1-1", 1);
    const cancelled = d.ok({ type: "job-control", jobId: job, action: "cancel" });
    expect(names(cancelled.events)).toEqual([
      "task.attempt-released",
      "task.attempt-released",
      "job.cancelled",
    ]);
    expect(cancelled.events[2]).toMatchObject({ released: 2 });
    expect(d.fsm.getJob(job)).toMatchObject({ state: "cancelled", counts: { liveAttempts: 0 } });
    expect(d.complete(job, "m-0-0-0", 1, "a").reply).toMatchObject({ code: "job-finished" });
    expect(d.start(job, "m-0-0-1", 1).reply).toMatchObject({ code: "job-finished" });
    expect(d.ok({ type: "job-control", jobId: job, action: "cancel" }).reply).toMatchObject({
      result: { changed: false },
    });
    expect(d.code({ type: "job-control", jobId: job, action: "resume" })).toBe("job-finished");
  });

  it("lists every unfinished job and only the latest finished ones when asked (finishedLatest)", () => {
    const d = new Driver();
    for (const id of ["a", "b", "c", "d", "e"]) d.submit(SMALL, id);
    // Finished in the order c, a, e (each cancel is a later entry, so a later finishedAt).
    for (const id of ["c", "a", "e"]) d.ok({ type: "job-control", jobId: id, action: "cancel" });
    const ids = (filter?: { finishedLatest?: number }) =>
      d.fsm.listJobs(filter).map((j) => j.jobId);
    expect(ids()).toEqual(["a", "b", "c", "d", "e"]);
    // Submission order kept; the unfinished b and d always; of the finished, the latest to end.
    expect(ids({ finishedLatest: 2 })).toEqual(["a", "b", "d", "e"]);
    expect(ids({ finishedLatest: 1 })).toEqual(["b", "d", "e"]);
    expect(ids({ finishedLatest: 0 })).toEqual(["b", "d"]);
    expect(ids({ finishedLatest: 10 })).toEqual(["a", "b", "c", "d", "e"]);
    expect(d.fsm.listJobs({ finishedLatest: 0 })).toEqual(
      d.fsm.listJobs().filter((j) => j.finishedAt === null),
    );
  });

  it("delete removes a finished job for good: its tasks stop counting, its id is never reused", () => {
    const d = Driver.withOptions({ limits: { maxJobs: 2 } });
    const a = d.submit(SMALL, "a");
    const b = d.submit(SMALL, "b");
    expect(d.code({ type: "submit-job", jobId: "c", spec: SMALL })).toBe("capacity-exceeded");
    expect(d.send({ type: "submit-job", jobId: "c", spec: SMALL }).reply).toMatchObject({
      reason: expect.stringContaining("tessera job delete"),
    });
    // Only a finished job can go: a queued or running one is cancelled first.
    expect(d.code({ type: "job-control", jobId: a, action: "delete" })).toBe("job-not-finished");
    d.ok({ type: "job-control", jobId: a, action: "cancel" });
    const tasksBefore = d.fsm.stats().tasks;
    const deleted = d.ok({ type: "job-control", jobId: a, action: "delete" });
    expect(deleted.reply).toMatchObject({ result: { jobId: a, state: "deleted", changed: true } });
    expect(deleted.events).toEqual([{ category: "job", type: "deleted", jobId: a }]);
    expect(d.fsm.getJob(a)).toBeUndefined();
    expect(d.fsm.listJobs().map((j) => j.jobId)).toEqual([b]);
    expect(d.fsm.stats()).toMatchObject({ jobs: 1, tasks: tasksBefore - 12 });
    // Idempotent; commands on it are unknown-job; its id is refused; there is room again.
    const again = d.ok({ type: "job-control", jobId: a, action: "delete" });
    expect(again.reply).toMatchObject({ result: { changed: false } });
    expect(again.events).toEqual([]);
    expect(d.start(a, "m-0-0-0", 1).reply).toMatchObject({ code: "unknown-job" });
    expect(d.code({ type: "job-control", jobId: a, action: "resume" })).toBe("unknown-job");
    expect(d.send({ type: "submit-job", jobId: a, spec: SMALL }).reply).toMatchObject({
      code: "job-exists",
      reason: expect.stringContaining("never reused"),
    });
    d.submit(SMALL, "c");
    expect(d.code({ type: "job-control", jobId: "nope", action: "delete" })).toBe("unknown-job");

    // The deleted ids survive a snapshot: a restored replica refuses them too.
    const restored = new Driver(new ManifestFsm({ limits: { maxJobs: 2 } }));
    restored.fsm.restore(d.fsm.snapshot());
    restored.index = d.index;
    restored.seq = d.seq; // the same client session continues
    expect(restored.fsm.digest()).toBe(d.fsm.digest());
    restored.ok({ type: "job-control", jobId: "c", action: "cancel" });
    expect(restored.code({ type: "submit-job", jobId: a, spec: SMALL })).toBe("job-exists");
  });

  it("emergency stop releases every live attempt and blocks starts until disengaged", () => {
    const d = new Driver();
    const j1 = d.submit(SMALL);
    const j2 = d.submit(SMALL);
    d.start(j1, "m-0-0-0", 1);
    d.start(j2, "m-0-0-0", 1);
    const stop = d.ok({ type: "emergency-stop", engaged: true });
    expect(names(stop.events)).toEqual([
      "task.attempt-released",
      "task.attempt-released",
      "control.emergency-stop",
    ]);
    expect(d.fsm.emergencyStopEngaged).toBe(true);
    expect(d.start(j1, "m-0-0-0", 2).reply).toMatchObject({ code: "emergency-stop" });
    expect([...d.fsm.runnableTasks(j1)]).toEqual([]);
    expect(d.fsm.getTask(j1, "m-0-0-0")).toMatchObject({ state: "pending", retries: 0 });
    d.ok({ type: "emergency-stop", engaged: false });
    expect(d.start(j1, "m-0-0-0", 2).reply.ok).toBe(true);
  });
});

describe("nodes", () => {
  it("registers, changes, drains and recovers nodes with events only on change", () => {
    const d = new Driver();
    expect(names(d.ok(upsert("a")).events)).toEqual(["node.joined"]);
    expect(d.ok(upsert("a")).events).toEqual([]);
    const changed = d.ok(upsert("a", { executionProvider: "cuda" }));
    expect(names(changed.events)).toEqual(["node.changed"]);
    expect(names(d.ok({ type: "node-drain", nodeId: "a", drained: true }).events)).toEqual([
      "node.drain",
    ]);
    const job = d.submit(SMALL);
    expect(d.start(job, "m-0-0-0", 1, "a").reply).toMatchObject({ code: "node-unavailable" });
    d.ok({ type: "node-drain", nodeId: "a", drained: false });
    expect(d.fsm.listNodes()).toEqual([
      expect.objectContaining({ nodeId: "a", state: "active", executionProvider: "cuda" }),
    ]);
  });

  it("node-failed expires that node's live attempts (events) and re-queues the tasks", () => {
    const d = new Driver();
    const job = d.submit(MEDIUM);
    d.ok(upsert("a"));
    d.ok(upsert("b"));
    d.start(job, "m-0-0-0", 1, "a");
    d.start(job, "m-0-0-1", 1, "b");
    d.start(job, "m-0-0-2", 1);
    d.ok({ type: "attempt-claim", jobId: job, taskId: "m-0-0-2", attempt: 1, nodeId: "a" });
    d.start(job, "m-0-0-1", 2, "a", true);
    expect(d.fsm.getNode("a")?.liveAttempts).toBe(3);

    const failed = d.ok({ type: "node-failed", nodeId: "a", reason: "phi 9" });
    expect(names(failed.events)).toEqual([
      "node.failed",
      "task.attempt-expired",
      "task.attempt-expired",
      "task.attempt-expired",
    ]);
    expect(failed.events[0]).toMatchObject({ nodeId: "a", expired: 3 });
    expect(d.fsm.getTask(job, "m-0-0-0")).toMatchObject({ state: "pending", retries: 1 });
    expect(d.fsm.getTask(job, "m-0-0-2")).toMatchObject({ state: "pending", lastAttempt: 1 });
    // The primary on b survives its speculative sibling's expiry.
    expect(d.fsm.getTask(job, "m-0-0-1")).toMatchObject({ state: "running" });
    expect(d.fsm.getTask(job, "m-0-0-1")?.live.map((a) => a.nodeId)).toEqual(["b"]);
    // Fenced: the dead node's late report is refused; the failed node cannot start work.
    expect(d.complete(job, "m-0-0-0", 1, "a").reply).toMatchObject({ code: "stale-attempt" });
    expect(d.start(job, "m-0-0-0", 2, "a").reply).toMatchObject({ code: "node-unavailable" });
    expect(d.ok({ type: "node-failed", nodeId: "a", reason: "again" }).reply).toMatchObject({
      result: { changed: false },
    });
    expect(names(d.ok(upsert("a")).events)).toEqual(["node.recovered"]);
    expect(d.start(job, "m-0-0-0", 2, "a").reply.ok).toBe(true);
  });
});

describe("outputs", () => {
  it("carries the agent's run time into the completed event when the completion has timings", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.start(job, "m-0-0-0", 1);
    const timed = d.complete(job, "m-0-0-0", 1, "agent-1", {
      readMs: 1,
      computeMs: 2.5,
      writeMs: 1,
      totalMs: 4.5,
    });
    expect(timed.events[0]).toMatchObject({ type: "completed", runMs: 4.5 });
    d.start(job, "m-0-0-1", 1);
    expect(d.complete(job, "m-0-0-1", 1).events[0]).not.toHaveProperty("runMs");
  });

  it("keeps a URI that does not end with the task key, and interns storage prefixes", () => {
    const d = new Driver();
    const job = d.submit(SMALL);
    d.start(job, "m-0-0-0", 1);
    d.send({
      type: "attempt-complete",
      jobId: job,
      taskId: "m-0-0-0",
      attempt: 1,
      nodeId: "n",
      output: { uri: "s3://elsewhere/odd-name", checksum: "00000001", bytes: 1 },
    });
    d.start(job, "m-0-0-1", 1);
    d.send({
      type: "attempt-complete",
      jobId: job,
      taskId: "m-0-0-1",
      attempt: 1,
      nodeId: "n",
      output: { uri: uriOf(job, "m-0-0-1", "s3://bucket/"), checksum: "00000002", bytes: 2 },
    });
    const f2 = new ManifestFsm();
    f2.restore(d.fsm.snapshot());
    expect(f2.getTask(job, "m-0-0-0")?.output?.uri).toBe("s3://elsewhere/odd-name");
    expect(f2.getTask(job, "m-0-0-1")?.output?.uri).toBe(
      `s3://bucket/jobs/${job}/partials/0-0-1.tile`,
    );
  });
});

/** A varied scenario: jobs, nodes, starts, speculation, failures, expiries, controls. */
function scenario(d: Driver, seed: number, steps: number): void {
  const rnd = prng(seed);
  const jobs = [d.submit(MEDIUM, "a"), d.submit(SMALL, "b"), d.submit(MEDIUM, "c", 3)];
  for (const n of ["n1", "n2", "n3"]) d.ok(upsert(n));
  const nodes = ["n1", "n2", "n3"];
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  for (let s = 0; s < steps; s++) {
    const job = pick(jobs);
    const r = rnd();
    const live = [...d.fsm.liveAttempts(job)];
    const a = live.length > 0 ? pick(live) : undefined;
    if (r < 0.4) {
      const t = [...d.fsm.runnableTasks(job, 4)];
      if (t.length > 0) {
        const task = pick(t);
        d.start(job, task.taskId, task.nextAttempt, pick(nodes));
      }
    } else if (r < 0.75) {
      if (a) d.complete(job, a.taskId, a.attempt, a.nodeId ?? pick(nodes));
    } else if (r < 0.8) {
      const view = a && d.fsm.getTask(job, a.taskId);
      if (a && view) d.start(job, a.taskId, view.lastAttempt + 1, pick(nodes), true);
    } else if (r < 0.83) {
      if (a) {
        d.send({
          type: "attempt-fail",
          jobId: job,
          taskId: a.taskId,
          attempt: a.attempt,
          reason: "flaky",
          retryable: true,
        });
      }
    } else if (r < 0.85) {
      if (a) {
        d.send({
          type: "attempt-expire",
          jobId: job,
          taskId: a.taskId,
          attempt: a.attempt,
          reason: "deadline",
        });
      }
    } else if (r < 0.87) {
      const n = pick(nodes);
      d.send({ type: "node-failed", nodeId: n, reason: "silent" });
      d.send(upsert(n));
    } else if (r < 0.89) {
      // Pause more rarely than resume, so jobs make progress.
      d.send({ type: "job-control", jobId: job, action: rnd() < 0.3 ? "pause" : "resume" });
    } else if (r < 0.92) {
      // Duplicates and retries of earlier commands.
      const old = d.log[Math.floor(rnd() * d.log.length)];
      if (old) d.applyData(old.data);
    } else if (r < 0.93) {
      d.send({ type: "emergency-stop", engaged: rnd() < 0.3 });
    } else if (r < 0.95) {
      // Storage: reset or verify a completed task, or give a verdict on a computed job.
      const view = d.fsm.getJob(job);
      const K = view ? view.spec.n / view.spec.tile : 2;
      const c = () => Math.floor(rnd() * K);
      const task = rnd() < 0.7 ? `m-${c()}-${c()}-${c()}` : `r-${c()}-${c()}`;
      if (view?.state === "verifying") d.verify(job, rnd() < 0.8, { reason: "freivalds" });
      else if (rnd() < 0.5) d.reset(job, task, "corrupt");
      else d.send({ type: "output-verified", jobId: job, taskId: task });
    } else if (r < 0.99) {
      d.send({ type: "noop" }, { clientId: `c${Math.floor(rnd() * 5)}` });
    } else {
      // A short-lived job: submitted, cancelled, deleted (deleted ids are state: snapshots,
      // digests), and its id refused afterwards.
      const tmp = `tmp-${Math.floor(rnd() * 5)}-${s}`; // one draw, like the noop branch
      d.send({ type: "submit-job", jobId: tmp, spec: SMALL });
      d.send({ type: "job-control", jobId: tmp, action: "delete" }); // refused: not finished
      d.send({ type: "job-control", jobId: tmp, action: "cancel" });
      d.send({ type: "job-control", jobId: tmp, action: "delete" });
      d.send({ type: "submit-job", jobId: tmp, spec: SMALL });
    }
  }
}

describe("determinism and snapshots", () => {
  it("two FSMs fed the same log reach the same digest at every index", () => {
    const a = new Driver();
    scenario(a, 42, 400);
    const b = new ManifestFsm();
    const c2 = new ManifestFsm();
    for (const e of a.log) {
      const x = b.apply(e);
      const y = c2.apply(e);
      expect(y).toEqual(x);
      expect(c2.digest()).toBe(b.digest());
    }
    expect(b.digest()).toBe(a.fsm.digest());
    // Every event batch the scenario produced satisfies the published schema.
    const replay = new ManifestFsm();
    let deletions = 0;
    for (const e of a.log) {
      const out = replay.apply(e);
      if (out.events.length === 0) continue;
      const batch = {
        v: 1,
        index: e.index,
        term: e.term,
        at: e.stampedAt,
        events: out.events.map((x) => x.body),
      };
      const checked = manifestEventBatchCodec.check(batch);
      expect(checked.ok ? "" : checked.error.message).toBe("");
      deletions += batch.events.filter((x) => (x as ManifestEvent).type === "deleted").length;
    }
    expect(deletions).toBeGreaterThan(0);
    // The scenario really moved work through the manifest.
    const counts = b.listJobs().map((j) => j.counts.done);
    expect(counts.reduce((x, y) => x + y, 0)).toBeGreaterThan(20);
    expect(b.listJobs().some((j) => j.counts.resets > 0)).toBe(true);
    expect(b.listJobs().some((j) => j.counts.verifiedOutputs > 0)).toBe(true);
    expect(b.listJobs()).toEqual(a.fsm.listJobs());
    // And a different scenario differs (the digest is not trivially constant).
    const c = new Driver();
    scenario(c, 43, 400);
    expect(c.fsm.digest()).not.toBe(a.fsm.digest());
  });

  it("snapshot → restore gives an equal digest and state, and both continue identically", () => {
    const a = new Driver();
    scenario(a, 7, 300);
    const snap = a.fsm.snapshot();
    const b = new ManifestFsm();
    b.restore(snap);
    expect(b.digest()).toBe(a.fsm.digest());
    expect(b.appliedIndex).toBe(a.fsm.appliedIndex);
    // Counters kept as commands apply (attempts: retries happened) equal those recounted on restore.
    expect(a.fsm.listJobs().some((j) => j.counts.attempts > j.counts.done)).toBe(true);
    expect(b.listJobs()).toEqual(a.fsm.listJobs());
    expect(b.listNodes()).toEqual(a.fsm.listNodes());
    expect([...b.liveAttempts()]).toEqual([...a.fsm.liveAttempts()]);
    expect(b.snapshot()).toEqual(snap);

    // Continue both with the same further log (including duplicates of pre-snapshot commands).
    const cont = new Driver(a.fsm);
    cont.index = a.index;
    cont.seq = 10_000;
    scenario(cont, 8, 200);
    for (const e of cont.log) {
      const replyB = b.apply(e);
      expect(replyB).toBeDefined();
    }
    expect(b.digest()).toBe(a.fsm.digest());
  });

  it("a replica restored mid-log catches up to the same digest as one that replayed it all", () => {
    const a = new Driver();
    scenario(a, 99, 300);
    const mid = 150;
    const replay = new ManifestFsm();
    for (const e of a.log.slice(0, mid)) replay.apply(e);
    const restored = new ManifestFsm();
    restored.restore(replay.snapshot());
    for (const e of a.log.slice(mid)) {
      const x = replay.apply(e);
      const y = restored.apply(e);
      expect(y.reply).toEqual(x.reply);
      expect(y.events).toEqual(x.events);
    }
    expect(restored.digest()).toBe(a.fsm.digest());
  });

  it("refuses a corrupt or foreign snapshot and keeps its state", () => {
    const a = new Driver();
    scenario(a, 5, 100);
    const good = a.fsm.snapshot();
    const b = new ManifestFsm();
    b.restore(good);
    const digest = b.digest();
    const flipped = good.slice();
    flipped[good.length - 10] = (flipped[good.length - 10] ?? 0) ^ 0xff;
    expect(() => b.restore(flipped)).toThrow(FsmSnapshotError);
    expect(() => b.restore(flipped)).toThrow(/CRC32C mismatch/);
    expect(() => b.restore(good.subarray(0, good.length - 1))).toThrow(/header says/);
    const badMagic = good.slice();
    badMagic[0] = 0;
    expect(() => b.restore(badMagic)).toThrow(/bad magic/);
    const v8 = good.slice();
    v8[4] = 8;
    expect(() => b.restore(v8)).toThrow(/unsupported version 8 \(supported: 1\.\.7\)/);
    expect(b.digest()).toBe(digest);
  });

  it("restores a version-3 snapshot (before deleted job ids were kept)", () => {
    const a = new Driver();
    const job = a.submit(MEDIUM, "a");
    a.ok(upsert("n1"));
    a.start(job, "m-0-0-0", 1, "n1");
    a.complete(job, "m-0-0-0", 1, "n1");
    // No live attempt: job records of format 3 and 4 (v5's batch per live attempt) are equal;
    // format 5 adds the armed attempts' count (0 here) just before the sessions (count 1, then
    // the client id as u32 length + bytes).
    const now = a.fsm.snapshot();
    const client = new TextEncoder().encode(a.clientId);
    const sessions = Buffer.from(now).indexOf(Buffer.from(client)) - 8;
    expect([...now.subarray(sessions - 4, sessions + 4)]).toEqual([0, 0, 0, 0, 1, 0, 0, 0]);
    // v3 = the same body without the armed count and the trailing deleted-id count (0 here).
    expect([...now.subarray(now.length - 4)]).toEqual([0, 0, 0, 0]);
    const body = new Uint8Array(now.length - 20 - 8);
    body.set(now.subarray(20, sessions - 4), 0);
    body.set(now.subarray(sessions, now.length - 4), sessions - 4 - 20);
    const v3 = new Uint8Array(20 + body.length);
    v3.set(now.subarray(0, 20));
    v3.set(body, 20);
    const view = new DataView(v3.buffer);
    view.setUint16(4, 3, true);
    view.setUint32(8, crc32cOf(body), true);
    view.setFloat64(12, body.length, true);
    const b = new ManifestFsm();
    b.restore(v3);
    expect(b.digest()).toBe(a.fsm.digest());
    expect(b.snapshot()).toEqual(now);
  });
});

describe("a job of 1,000,000+ tasks", () => {
  it("is stored compactly and round-trips through a snapshot", () => {
    // K = 100: 1,000,000 maps + 10,000 reduces.
    const spec = { n: 1600, tile: 16, mode: "exact", seed: 3 } as const;
    const d = new Driver();
    const job = d.submit(spec, "big");
    expect(d.fsm.getJob(job)?.counts.tasks).toBe(1_010_000);
    d.ok(upsert("n1"));
    // Finish the maps of reduce r-0-0 and the reduce itself, plus scattered maps elsewhere.
    for (let k = 0; k < 100; k++) d.run(job, `m-0-0-${k}`, "n1");
    d.run(job, "r-0-0", "n1");
    for (let x = 0; x < 200; x++)
      d.run(job, `m-${1 + ((x * 37) % 99)}-${(x * 11) % 100}-${x % 100}`);
    d.start(job, "m-99-99-99", 1, "n1");
    d.start(job, "m-99-99-99", 2, "n1", true);

    const stats = d.fsm.stats();
    expect(stats.tasks).toBe(1_010_000);
    expect(stats.taskBytes).toBeLessThan(25 * 1_010_000);
    const snap = d.fsm.snapshot();
    expect(snap.byteLength).toBeLessThan(25 * 1_010_000);

    const b = new ManifestFsm();
    b.restore(snap);
    expect(b.digest()).toBe(d.fsm.digest());
    expect(b.getJob(job)).toEqual(d.fsm.getJob(job));
    expect(b.getJob(job)?.counts).toMatchObject({ done: 101 + 200, running: 1, liveAttempts: 2 });
    expect(b.getTask(job, "r-0-0")).toEqual(d.fsm.getTask(job, "r-0-0"));
    expect(b.getTask(job, "m-99-99-99")?.live).toHaveLength(2);
    expect([...b.runnableTasks(job, 5)]).toEqual([...d.fsm.runnableTasks(job, 5)]);
    // The restored replica keeps applying: fencing state survived.
    const e = entry(d.index + 1, envelopeBytes({ type: "noop" }, "z", 1));
    b.apply(e);
    d.fsm.apply(e);
    expect(b.digest()).toBe(d.fsm.digest());
  });
});

describe("batch entries (the leader packs queued commands into one log index)", () => {
  const batch = () => ({
    index: 5,
    term: 1,
    stampedAt: T0,
    commands: [
      envelopeBytes({ type: "submit-job", spec: SMALL }, "c1", 1),
      envelopeBytes({ type: "submit-job", spec: SMALL }, "c1", 2),
      envelopeBytes({ type: "submit-job", spec: SMALL }, "c1", 1),
      Buffer.from("not json"),
    ],
  });
  const parse = (b: Uint8Array) => JSON.parse(Buffer.from(b).toString("utf8"));

  it("applies each command in order with its own reply, one event batch per index, unique job ids", () => {
    const fsm = new ManifestFsm();
    const out = fsm.applyBatch(batch());
    const replies = out.replies.map(parse);
    expect(replies[0]).toMatchObject({ ok: true, result: { jobId: "job-5" } });
    expect(replies[1]).toMatchObject({ ok: true, result: { jobId: "job-5-1" } });
    // The same (clientId, seq) twice in one entry runs once, as it would across entries.
    expect(replies[2]).toEqual({ ...replies[0], duplicate: true });
    expect(replies[3]).toMatchObject({ ok: false, code: "schema-error" });
    expect(names(out.events.map((e) => e.body as ManifestEvent))).toEqual([
      "job.submitted",
      "job.submitted",
    ]);
    expect(fsm.appliedIndex).toBe(5);
    expect(fsm.listJobs().map((j) => j.jobId)).toEqual(["job-5", "job-5-1"]);
    // Deterministic: a replica applying the same entry ends in the same state.
    const replica = new ManifestFsm();
    replica.applyBatch(batch());
    expect(replica.digest()).toBe(fsm.digest());
    // Re-delivered at or below the applied index: refused for every command, nothing applied.
    const again = fsm.applyBatch(batch());
    expect(again.replies.map((r) => parse(r).code)).toEqual(Array(4).fill("internal-error"));
    expect(fsm.listJobs()).toHaveLength(2);
  });
});
