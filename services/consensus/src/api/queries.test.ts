import { describe, expect, it } from "vitest";
import { Driver } from "../fsm/fsm.test-helpers.js";
import { ServiceError } from "./errors.js";
import { parseQuery, runQuery, TASKS_PAGE_DEFAULT, TASKS_PAGE_MAX } from "./queries.js";
import { fsmReadModel } from "./read-model.js";

const MEDIUM = { n: 64, tile: 16, mode: "exact", seed: 1 } as const; // 64 maps + 16 reduces

describe("read queries", () => {
  it("parses a tasks page query with defaults and names a bad field", () => {
    expect(parseQuery({ type: "tasks", jobId: "j" })).toEqual({
      type: "tasks",
      jobId: "j",
      from: 0,
      limit: TASKS_PAGE_DEFAULT,
    });
    const bad = (q: unknown) => {
      try {
        parseQuery(q);
      } catch (err) {
        expect(err).toBeInstanceOf(ServiceError);
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    expect(bad({ type: "tasks", jobId: "j", limit: TASKS_PAGE_MAX + 1 })).toMatch(
      /^query \/limit: must be an integer in \[1, 5000\]/,
    );
    expect(bad({ type: "tasks", jobId: "j", from: -1 })).toMatch(/^query \/from: /);
    expect(bad({ type: "tasks", jobId: "j", from: 1.5 })).toMatch(/^query \/from: /);
    expect(bad({ type: "tasks" })).toMatch(/^query \/jobId: /);
    expect(bad({ type: "task-list" })).toMatch(/"tasks"/);
    expect(parseQuery({ type: "jobs" })).toEqual({ type: "jobs" });
    expect(parseQuery({ type: "jobs", finished: 5 })).toEqual({ type: "jobs", finishedLatest: 5 });
    expect(bad({ type: "jobs", finished: -1 })).toMatch(/^query \/finished: must be an integer/);
  });

  it("pages through a job's touched tasks in ordinal order, skipping untouched ones", () => {
    const d = new Driver();
    const job = d.submit(MEDIUM);
    // Touch maps out of order, one retried after a failure, and a whole row plus its reduce.
    for (const k of [0, 1, 2, 3]) d.run(job, `m-0-0-${k}`);
    d.run(job, "r-0-0");
    d.start(job, "m-3-3-3", 1);
    d.start(job, "m-1-2-0", 1);
    d.ok({
      type: "attempt-fail",
      jobId: job,
      taskId: "m-1-2-0",
      attempt: 1,
      reason: "oom",
      retryable: true,
    });
    const model = fsmReadModel(d.fsm);
    const seen: string[] = [];
    let pages = 0;
    for (let from: number | null = 0; from !== null; pages++) {
      const page = runQuery(model, { type: "tasks", jobId: job, from, limit: 2 }) as {
        tasks: { taskId: string; state: string; lastAttempt: number }[];
        next: number | null;
      };
      expect(page.tasks.length).toBeLessThanOrEqual(2);
      seen.push(...page.tasks.map((t) => `${t.taskId}:${t.state}:${t.lastAttempt}`));
      from = page.next;
    }
    expect(seen).toEqual([
      "m-0-0-0:done:1",
      "m-0-0-1:done:1",
      "m-0-0-2:done:1",
      "m-0-0-3:done:1",
      "m-1-2-0:pending:1", // failed once, waiting for its retry: still touched
      "m-3-3-3:running:1",
      "r-0-0:done:1",
    ]);
    expect(pages).toBe(4);
    expect(runQuery(model, { type: "tasks", jobId: "nope", from: 0, limit: 2 })).toBeNull();
  });
});
