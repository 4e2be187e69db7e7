import { describe, expect, it } from "vitest";
import { backoffMs, exhaustedReason, hintFor, retryDueAt } from "./retry.js";

const policy = { baseMs: 500, maxMs: 4000, factor: 2 };

describe("retry policy", () => {
  it("backs off exponentially and caps", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((f) => backoffMs(f, policy))).toEqual([
      0, 500, 1000, 2000, 4000, 4000, 4000,
    ]);
    expect(retryDueAt(2, 10_000, policy)).toBe(11_000);
    expect(backoffMs(5000, policy)).toBe(4000);
  });

  it("fails the job only when the attempts are used up, with an actionable reason", () => {
    const facts = {
      jobId: "j1",
      taskId: "m-0-0-1",
      maxAttempts: 3,
      lastReason: "TESSERA_E_STORAGE_UNAVAILABLE: connect ECONNREFUSED",
      lastNode: "agent-2",
    };
    expect(exhaustedReason({ ...facts, failures: 2 })).toBeUndefined();
    const reason = exhaustedReason({ ...facts, failures: 3 })!;
    expect(reason).toContain("task m-0-0-1 of job j1 failed 3 of 3 allowed attempts");
    expect(reason).toContain("TESSERA_E_STORAGE_UNAVAILABLE");
    expect(reason).toContain("agent-2");
    expect(reason).toContain("storage backend");
  });

  it("maps error codes to hints", () => {
    expect(hintFor("TESSERA_E_STORAGE_CHECKSUM: crc mismatch")).toContain("corrupt");
    expect(hintFor("overran: attempt 3 ran 9000 ms")).toContain("deadline");
    expect(hintFor("something else")).toBe("");
  });
});
