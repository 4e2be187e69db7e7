import type { ManifestEvent } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import { Driver, T0, upsert } from "./fsm.test-helpers.js";
import { ManifestFsm } from "./manifest-fsm.js";

// attempt-start `whenReady`: a reduce armed before its partials are complete starts in the same
// log entry as the completion that makes it runnable (the dependent hop's second commit goes).

/** Mode "empty", K = 2: 8 maps, 4 reduces; reduce r-0-0 reads m-0-0-0 and m-0-0-1. */
const EMPTY = { n: 32, tile: 16, mode: "empty", seed: 7 } as const;

const kinds = (events: readonly ManifestEvent[]) =>
  events.map((e) => `${e.category}.${e.type}${"taskId" in e ? ` ${e.taskId}` : ""}`);

function arm(d: Driver, jobId: string, attempt = 1, over: Record<string, unknown> = {}) {
  return d.send({
    type: "attempt-start",
    jobId,
    taskId: "r-0-0",
    attempt,
    whenReady: true,
    ...over,
  });
}

/** Both maps of reduce r-0-0 started, the first completed: the reduce waits on m-0-0-1. */
function oneMapLeft(d: Driver): string {
  const job = d.submit(EMPTY, "j");
  d.run(job, "m-0-0-0");
  expect(d.start(job, "m-0-0-1", 1).reply.ok).toBe(true);
  return job;
}

describe("attempt-start whenReady (armed reduces)", () => {
  it("arms a reduce that is not runnable and starts it in the entry completing its last partial", () => {
    const d = new Driver();
    const job = oneMapLeft(d);
    const armedAt = T0 + (d.index + 1) * 10;
    const armed = arm(d, job, 1, { deadlineAt: armedAt + 5_000 });
    expect(armed.reply).toMatchObject({ ok: true, result: { armed: true, attempt: 1 } });
    expect(armed.events).toEqual([
      { category: "task", type: "armed", jobId: job, taskId: "r-0-0", attempt: 1 },
    ]);
    // Armed is not started: no attempt number used, and a plain start is still refused.
    expect(d.fsm.getTask(job, "r-0-0")).toMatchObject({ state: "pending", lastAttempt: 0 });
    expect(d.fsm.getJob(job)?.counts).toMatchObject({ armed: 1, running: 1, liveAttempts: 1 });
    expect(d.code({ type: "attempt-start", jobId: job, taskId: "r-0-0", attempt: 1 })).toBe(
      "not-runnable",
    );

    const done = d.complete(job, "m-0-0-1", 1);
    const doneAt = T0 + d.index * 10;
    expect(kinds(done.events)).toEqual([
      "task.completed m-0-0-1",
      "task.reduce-ready r-0-0",
      "task.started r-0-0",
    ]);
    expect(done.events[2]).toMatchObject({
      attempt: 1,
      kind: "reduce",
      armed: true,
      speculative: false,
      deadlineAt: doneAt + 5_000,
    });
    expect(d.fsm.getTask(job, "r-0-0")).toMatchObject({ state: "running", lastAttempt: 1 });
    expect(d.complete(job, "r-0-0", 1).reply.ok).toBe(true);
    expect(d.fsm.getJob(job)?.counts).toMatchObject({ reducesDone: 1, attempts: 3, armed: 0 });
  });

  it("answers a repeated arming the same, refuses a stale attempt number and a speculative arming", () => {
    const d = new Driver();
    const job = oneMapLeft(d);
    expect(arm(d, job).reply.ok).toBe(true);
    const again = arm(d, job);
    expect(again.reply).toMatchObject({ ok: true, result: { armed: true, alreadyArmed: true } });
    expect(again.events).toEqual([]);
    expect(
      d.code({ type: "attempt-start", jobId: job, taskId: "r-0-0", attempt: 2, whenReady: true }),
    ).toBe("stale-attempt");
    const other = new Driver();
    const job2 = oneMapLeft(other);
    expect(arm(other, job2, 1, { speculative: true }).reply).toMatchObject({
      ok: false,
      code: "not-runnable",
    });
    // One start for the one arming: the completion starts attempt 1 once.
    const done = d.complete(job, "m-0-0-1", 1);
    expect(kinds(done.events).filter((k) => k.startsWith("task.started"))).toHaveLength(1);
  });

  it("starts a runnable reduce at once, like a plain attempt-start", () => {
    const d = new Driver();
    const job = d.submit(EMPTY, "j");
    d.run(job, "m-0-0-0");
    d.run(job, "m-0-0-1");
    const s = arm(d, job);
    expect(s.reply).toMatchObject({ ok: true, result: { attempt: 1, speculative: false } });
    expect(kinds(s.events)).toEqual(["task.started r-0-0"]);
    expect(s.events[0]).not.toHaveProperty("armed");
  });

  it("drops the arming when the reduce may not start then (job paused), and the reduce starts normally after resume", () => {
    const d = new Driver();
    const job = oneMapLeft(d);
    expect(arm(d, job).reply.ok).toBe(true);
    d.ok({ type: "job-control", jobId: job, action: "pause" });
    const done = d.complete(job, "m-0-0-1", 1);
    expect(kinds(done.events)).toEqual([
      "task.completed m-0-0-1",
      "task.reduce-ready r-0-0",
      "task.disarmed r-0-0",
    ]);
    expect(done.events[2]).toMatchObject({
      attempt: 1,
      reason: expect.stringMatching(/^job-paused: /),
    });
    expect(d.fsm.getTask(job, "r-0-0")).toMatchObject({ state: "pending", lastAttempt: 0 });
    d.ok({ type: "job-control", jobId: job, action: "resume" });
    expect(d.start(job, "r-0-0", 1).reply.ok).toBe(true);
  });

  it("drops the arming when its node was drained meanwhile", () => {
    const d = new Driver();
    d.ok(upsert("agent-1"));
    const job = oneMapLeft(d);
    expect(arm(d, job, 1, { nodeId: "agent-1" }).reply.ok).toBe(true);
    d.ok({ type: "node-drain", nodeId: "agent-1", drained: true });
    const done = d.complete(job, "m-0-0-1", 1);
    expect(done.events.at(-1)).toMatchObject({
      type: "disarmed",
      reason: expect.stringMatching(/^node-unavailable: .*drained/),
    });
  });

  it("keeps an armed attempt through a snapshot: the restored manifest starts it the same way", () => {
    const d = new Driver();
    const job = oneMapLeft(d);
    expect(arm(d, job, 1, { deadlineAt: T0 + 99_000 }).reply.ok).toBe(true);
    const b = new Driver(new ManifestFsm());
    b.fsm.restore(d.fsm.snapshot());
    b.index = d.index;
    b.seq = d.seq;
    expect(b.fsm.digest()).toBe(d.fsm.digest());
    const there = d.complete(job, "m-0-0-1", 1);
    const here = b.complete(job, "m-0-0-1", 1);
    expect(here.events).toEqual(there.events);
    expect(here.events.at(-1)).toMatchObject({ type: "started", armed: true });
    expect(b.fsm.digest()).toBe(d.fsm.digest());
  });

  describe("handed over to the reporting agent (Handover)", () => {
    const POOL = "gpu";

    it("binds the started attempt to the reporter and returns its work item in the reply", () => {
      const d = new Driver();
      d.ok(upsert("agent-1"));
      const job = oneMapLeft(d);
      const armedAt = T0 + (d.index + 1) * 10;
      expect(arm(d, job, 1, { deadlineAt: armedAt + 5_000 }).reply.ok).toBe(true);
      const done = d.send({
        ...d.completion(job, "m-0-0-1", 1, "agent-1"),
        handover: { pool: POOL, max: 1 },
      });
      const doneAt = T0 + d.index * 10;
      expect(done.events.at(-1)).toMatchObject({
        type: "started",
        taskId: "r-0-0",
        nodeId: "agent-1",
        armed: true,
        handed: true,
        deadlineAt: doneAt + 5_000,
      });
      expect(done.reply).toMatchObject({
        ok: true,
        result: {
          handed: [
            {
              v: 1,
              itemId: `${job}/r-0-0/1`,
              jobId: job,
              taskId: "r-0-0",
              attempt: 1,
              kind: "reduce",
              job: EMPTY,
              i: 0,
              j: 0,
              pool: POOL,
              issuedAt: doneAt,
              deadlineMs: doneAt + 5_000,
            },
          ],
        },
      });
      // Bound: another agent's report of it is refused; the reporter's is the one that counts.
      expect(d.complete(job, "r-0-0", 1, "agent-2").reply).toMatchObject({
        ok: false,
        code: "stale-attempt",
      });
      expect(d.complete(job, "r-0-0", 1, "agent-1").reply.ok).toBe(true);
    });

    it("answers a retried report (same session seq) with the same work items", () => {
      const d = new Driver();
      d.ok(upsert("agent-1"));
      const job = oneMapLeft(d);
      expect(arm(d, job).reply.ok).toBe(true);
      const report = { ...d.completion(job, "m-0-0-1", 1), handover: { pool: POOL, max: 2 } };
      const first = d.send(report, { clientId: "agent-1:boot", seq: 7 });
      const again = d.send(report, { clientId: "agent-1:boot", seq: 7 });
      expect(again.events).toEqual([]);
      expect(again.reply).toMatchObject({ ok: true, duplicate: true });
      expect((again.reply as { result?: unknown }).result).toEqual(
        (first.reply as { result?: unknown }).result,
      );
    });

    it("starts it the ordinary way (published by the scheduler) when the reporter may not take it", () => {
      for (const setup of ["unregistered", "drained", "placed elsewhere"] as const) {
        const d = new Driver();
        if (setup !== "unregistered") d.ok(upsert("agent-1"));
        if (setup === "drained") d.ok({ type: "node-drain", nodeId: "agent-1", drained: true });
        d.ok(upsert("agent-2"));
        const job = oneMapLeft(d);
        const over = setup === "placed elsewhere" ? { nodeId: "agent-2" } : {};
        expect(arm(d, job, 1, over).reply.ok).toBe(true);
        const done = d.send({
          ...d.completion(job, "m-0-0-1", 1, "agent-1"),
          handover: { pool: POOL, max: 1 },
        });
        const started = done.events.at(-1);
        expect(started, setup).toMatchObject({ type: "started", armed: true });
        expect(started, setup).not.toHaveProperty("handed");
        expect(done.reply, setup).toMatchObject({ ok: true });
        expect((done.reply as { result?: object }).result, setup).not.toHaveProperty("handed");
      }
    });

    it("hands over at most `max` of the reduces one report batch starts", () => {
      const d = new Driver();
      d.ok(upsert("agent-1"));
      const job = d.submit(EMPTY, "j");
      d.run(job, "m-0-0-0");
      d.run(job, "m-0-1-0");
      expect(d.start(job, "m-0-0-1", 1).reply.ok).toBe(true);
      expect(d.start(job, "m-0-1-1", 1).reply.ok).toBe(true);
      expect(arm(d, job).reply.ok).toBe(true);
      expect(arm(d, job, 1, { taskId: "r-0-1" }).reply.ok).toBe(true);
      const done = d.send({
        type: "attempt-report-batch",
        reports: [d.completion(job, "m-0-0-1", 1), d.completion(job, "m-0-1-1", 1)],
        handover: { pool: POOL, max: 1 },
      });
      const starts = done.events.filter((e) => e.category === "task" && e.type === "started");
      expect(starts.map((e) => ("handed" in e ? e.handed : undefined))).toEqual([true, undefined]);
      const result = (done.reply as { result?: { handed?: { taskId: string }[] } }).result;
      expect(result?.handed?.map((i) => i.taskId)).toEqual(["r-0-0"]);
    });

    it("previews the hand-over a report would make before it commits, changing nothing", () => {
      const cases = [
        "handed",
        "batch of both partials",
        "batch with a map's twin",
        "partial missing",
        "paused",
        "unregistered",
        "drained",
        "placed elsewhere",
        "already complete",
        "not armed",
      ] as const;
      for (const setup of cases) {
        const d = new Driver();
        if (setup !== "unregistered") d.ok(upsert("agent-1"));
        if (setup === "drained") d.ok({ type: "node-drain", nodeId: "agent-1", drained: true });
        d.ok(upsert("agent-2"));
        const job = d.submit(EMPTY, "j");
        if (setup === "batch of both partials") {
          expect(d.start(job, "m-0-0-0", 1).reply.ok).toBe(true);
        } else if (setup === "batch with a map's twin") {
          // m-0-0-0 has a live attempt and a speculative twin; both report, m-0-0-1 does not.
          expect(d.start(job, "m-0-0-0", 1).reply.ok).toBe(true);
          expect(d.start(job, "m-0-0-0", 2, undefined, true).reply.ok).toBe(true);
        } else if (setup !== "partial missing") {
          d.run(job, "m-0-0-0");
        }
        expect(d.start(job, "m-0-0-1", 1).reply.ok).toBe(true);
        const over = setup === "placed elsewhere" ? { nodeId: "agent-2" } : {};
        if (setup !== "not armed") expect(arm(d, job, 1, over).reply.ok).toBe(true);
        if (setup === "paused") d.ok({ type: "job-control", jobId: job, action: "pause" });
        if (setup === "already complete") d.complete(job, "m-0-0-1", 1, "agent-1");
        const handover = { pool: POOL, max: 1 };
        const batchOf = (...reports: ReturnType<typeof d.completion>[]) => ({
          type: "attempt-report-batch" as const,
          reports,
          handover,
        });
        const report =
          setup === "batch of both partials"
            ? batchOf(
                d.completion(job, "m-0-0-0", 1, "agent-1"),
                d.completion(job, "m-0-0-1", 1, "agent-1"),
              )
            : setup === "batch with a map's twin"
              ? batchOf(
                  d.completion(job, "m-0-0-0", 1, "agent-1"),
                  d.completion(job, "m-0-0-0", 2, "agent-1"),
                )
              : { ...d.completion(job, "m-0-0-1", 1, "agent-1"), handover };
        const before = d.fsm.snapshot();
        const preview = d.fsm.previewHandover(report).map((i) => i.itemId);
        expect(d.fsm.snapshot(), setup).toEqual(before);
        const done = d.send(report);
        const result = (done.reply as { result?: { handed?: { itemId: string }[] } }).result;
        // What the committed entry hands over is what the preview said it would.
        expect(preview, setup).toEqual(result?.handed?.map((i) => i.itemId) ?? []);
        const expected = setup === "handed" || setup === "batch of both partials";
        expect(preview, setup).toEqual(expected ? [`${job}/r-0-0/1`] : []);
      }
    });

    it("refuses a handover inside a batch's report (it belongs to the batch)", () => {
      const d = new Driver();
      const job = oneMapLeft(d);
      const bad = d.send({
        type: "attempt-report-batch",
        reports: [{ ...d.completion(job, "m-0-0-1", 1), handover: { pool: POOL, max: 1 } }],
      });
      expect(bad.reply).toMatchObject({
        ok: false,
        code: "schema-error",
        reason: expect.stringContaining("/cmd/reports/0/handover"),
      });
    });
  });
});
