import { describe, expect, it } from "vitest";
import {
  decideOutputCheck,
  decideVerdict,
  type EventBatchLike,
  JobTracker,
  keyOfTask,
  type LooseEvent,
  tileFileBytes,
} from "./tracker.js";

const spec = { n: 64, tile: 32, mode: "exact" as const, seed: 7 };
const TB = tileFileBytes(32);
const opts = { keepPartials: false, partialsGraceMs: 0, maxResetsPerJob: 3 };

let index = 0;
function batch(...events: LooseEvent[]): EventBatchLike {
  index++;
  return { index, at: 1_000 + index, events };
}
const submitted = (jobId = "job-1"): LooseEvent => ({
  category: "job",
  type: "submitted",
  jobId,
  spec,
  maps: 8,
  reduces: 4,
  maxAttempts: 4,
});
function completed(
  taskId: string,
  attempt = 1,
  checksum = "0000000a",
  jobId = "job-1",
): LooseEvent {
  const key = keyOfTask(jobId, taskId, 2);
  return {
    category: "task",
    type: "completed",
    jobId,
    taskId,
    attempt,
    kind: taskId.startsWith("m-") ? "map" : "reduce",
    nodeId: "agent-1",
    output: { uri: `file:///data/${key}`, checksum, bytes: TB },
  };
}
const reduces = ["r-0-0", "r-0-1", "r-1-0", "r-1-1"];

describe("decideOutputCheck", () => {
  const record = {
    key: "jobs/j/C/0-0.tile",
    output: { uri: "file:///d/jobs/j/C/0-0.tile", checksum: "deadbeef", bytes: TB },
  };
  it("accepts an object with the reported size and checksum", () => {
    expect(decideOutputCheck(record, TB, { bytes: TB, checksum: "deadbeef" })).toEqual({
      ok: true,
    });
  });
  it("names each kind of mismatch", () => {
    expect(decideOutputCheck(record, TB, null)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/does not exist/),
    });
    expect(decideOutputCheck(record, TB, { bytes: TB - 4, checksum: "deadbeef" })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/has 4156 B in storage, completion reported 4160 B/),
    });
    expect(decideOutputCheck(record, TB, { bytes: TB, checksum: "00000000" })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/CRC32C 00000000 in storage, completion reported deadbeef/),
    });
    expect(
      decideOutputCheck(
        record,
        TB,
        { bytes: TB, checksum: "deadbeef" },
        "checksum mismatch on read",
      ),
    ).toMatchObject({ ok: false, reason: expect.stringMatching(/failed a verified read/) });
    expect(
      decideOutputCheck(
        { ...record, output: { ...record.output, uri: "file:///other" } },
        TB,
        null,
      ),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/is not the task's key/),
    });
    expect(decideOutputCheck(record, TB + 1, { bytes: TB, checksum: "deadbeef" })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not a tile's size/),
    });
  });
});

describe("decideVerdict", () => {
  const ok = { verified: true, tilesChecked: 4, failures: [] };
  it("proposes job-verified(true) with the digest when every tile passes", () => {
    expect(decideVerdict("j", 2, ok, "ab".repeat(32), 0, 3)).toEqual([
      { type: "job-verified", jobId: "j", verified: true, digest: "ab".repeat(32) },
    ]);
  });
  it("resets reduces whose tiles could not be read, within the budget", () => {
    const outcome = {
      verified: false,
      tilesChecked: 4,
      failures: [{ i: 1, j: 0, reason: "output tile could not be read: checksum mismatch" }],
    };
    expect(decideVerdict("j", 2, outcome, "d", 0, 3)).toEqual([
      {
        type: "task-reset",
        jobId: "j",
        taskId: "r-1-0",
        reason: "storage-manager: output tile could not be read: checksum mismatch",
      },
    ]);
    // Budget spent: the job fails with the reason instead of looping forever.
    const [v] = decideVerdict("j", 2, outcome, "d", 3, 3);
    expect(v).toMatchObject({ type: "job-verified", verified: false });
    expect(v?.type === "job-verified" && v.reason).toMatch(/C\(1,0\)/);
  });
  it("fails the job on a wrong value", () => {
    const outcome = {
      verified: false,
      tilesChecked: 4,
      failures: [{ i: 0, j: 1, reason: "round 0: row 3: C·r = 1 but A·(B·r) = 2 (exact mode)" }],
    };
    const [v] = decideVerdict("j", 2, outcome, "d", 0, 3);
    expect(v).toMatchObject({ type: "job-verified", jobId: "j", verified: false });
    expect(v?.type === "job-verified" && v.reason).toMatch(
      /1 of 4 output tiles failed Freivalds.*C\(0,1\)/,
    );
  });
  it("fails a job whose tiles were not all checked", () => {
    const [v] = decideVerdict("j", 2, { verified: true, tilesChecked: 3, failures: [] }, "d", 0, 3);
    expect(v).toMatchObject({ verified: false, reason: "only 3 of 4 output tiles were checked" });
  });
});

describe("JobTracker", () => {
  it("checks every output once, then verifies when every reduce checked ok", () => {
    const t = new JobTracker(opts);
    t.apply(batch(submitted(), completed("m-0-0-0"), ...reduces.map((r) => completed(r))));
    const first = t.nextActions(0);
    expect(first.map((a) => a.type)).toEqual(Array(5).fill("check-output"));
    expect(t.nextActions(0)).toEqual([]); // handed out once
    const records = first.flatMap((a) => (a.type === "check-output" ? [a.record] : []));
    for (const r of records) {
      expect(t.outputChecked(r, { ok: true })).toEqual({
        type: "output-verified",
        jobId: "job-1",
        taskId: r.taskId,
      });
    }
    const [verify] = t.nextActions(0);
    expect(verify).toMatchObject({ type: "verify-job", jobId: "job-1" });
    expect(verify?.type === "verify-job" && [...verify.checksums.keys()].sort()).toEqual(reduces);
    expect(t.nextActions(0)).toEqual([]);
  });

  it("leaves an empty job alone: nothing stored to check, verify or clean", () => {
    const t = new JobTracker(opts);
    const emptyJob = { ...submitted("e"), spec: { ...spec, mode: "empty" } };
    const done = (taskId: string): LooseEvent => ({
      ...completed(taskId, 1, "00000000", "e"),
      output: { uri: `empty:${keyOfTask("e", taskId, 2)}`, checksum: "00000000", bytes: 0 },
    });
    t.apply(batch(emptyJob, done("m-0-0-0"), ...reduces.map(done)));
    t.apply(
      batch({ category: "job", type: "succeeded", jobId: "e", outputDigest: "0".repeat(64) }),
    );
    expect(t.nextActions(1_000_000)).toEqual([]);
    expect(t.job("e")).toMatchObject({ state: "succeeded", partials: "cleaned" });
  });

  it("does not verify while a reduce is missing or bad", () => {
    const t = new JobTracker(opts);
    t.apply(batch(submitted(), ...reduces.slice(0, 3).map((r) => completed(r))));
    for (const a of t.nextActions(0))
      if (a.type === "check-output") t.outputChecked(a.record, { ok: true });
    expect(t.nextActions(0)).toEqual([]);
    t.apply(batch(completed("r-1-1")));
    const [check] = t.nextActions(0);
    expect(check?.type).toBe("check-output");
    if (check?.type !== "check-output") return;
    expect(t.outputChecked(check.record, { ok: false, reason: "gone" })).toEqual({
      type: "task-reset",
      jobId: "job-1",
      taskId: "r-1-1",
      reason: "storage-manager: gone",
    });
    expect(t.nextActions(0)).toEqual([]);
    // The recomputed reduce completes again (attempt 2): checked, then the job verifies.
    t.apply(batch(completed("r-1-1", 2, "0000000b")));
    const [again] = t.nextActions(0);
    if (again?.type !== "check-output") throw new Error("expected a check");
    expect(again.record.attempt).toBe(2);
    t.outputChecked(again.record, { ok: true });
    expect(t.nextActions(0).map((a) => a.type)).toEqual(["verify-job"]);
  });

  it("a reduce that checked ok stops counting once a reset or a newer attempt replaces it", () => {
    const t = new JobTracker(opts);
    const checkAll = () => {
      for (const a of t.nextActions(0))
        if (a.type === "check-output") t.outputChecked(a.record, { ok: true });
    };
    t.apply(batch(submitted(), ...reduces.map((r) => completed(r))));
    checkAll();
    expect(t.readyToVerify(t.job("job-1")!)).toBe(true);
    t.apply(batch({ category: "task", type: "reset", jobId: "job-1", taskId: "r-0-0" }));
    expect(t.readyToVerify(t.job("job-1")!)).toBe(false);
    t.apply(batch(completed("r-0-0", 2)));
    expect(t.readyToVerify(t.job("job-1")!)).toBe(false); // not checked yet
    checkAll();
    expect(t.readyToVerify(t.job("job-1")!)).toBe(true);
    // A newer attempt's output without a reset in between (a speculative twin) counts afresh.
    t.apply(batch(completed("r-1-1", 2, "0000000c")));
    expect(t.readyToVerify(t.job("job-1")!)).toBe(false);
    checkAll();
    expect(t.nextActions(0).map((a) => a.type)).toEqual(["verify-job"]);
  });

  it("does not reset a bad partial whose reduce already completed", () => {
    const t = new JobTracker(opts);
    t.apply(batch(submitted(), completed("r-0-0"), completed("m-0-0-1")));
    const acts = t.nextActions(0);
    const reduce = acts.find((a) => a.type === "check-output" && a.record.kind === "reduce");
    const map = acts.find((a) => a.type === "check-output" && a.record.kind === "map");
    if (reduce?.type !== "check-output" || map?.type !== "check-output") throw new Error("checks");
    t.outputChecked(reduce.record, { ok: true });
    expect(t.outputChecked(map.record, { ok: false, reason: "corrupt" })).toBeUndefined();
  });

  it("ignores a check result for an output a newer attempt replaced", () => {
    const t = new JobTracker(opts);
    t.apply(batch(submitted(), completed("m-0-0-0", 1)));
    const [old] = t.nextActions(0);
    t.apply(batch(completed("m-0-0-0", 2)));
    if (old?.type !== "check-output") throw new Error("check");
    expect(t.outputChecked(old.record, { ok: false, reason: "x" })).toBeUndefined();
    expect(t.job("job-1")?.outputs.get("m-0-0-0")?.status).toBe("unchecked");
  });

  it("cleans partials of succeeded and cancelled jobs after the grace period, keeps failed ones", () => {
    const t = new JobTracker({ ...opts, partialsGraceMs: 500 });
    t.apply(batch(submitted("a"), submitted("b"), submitted("c")));
    const at = index + 1_001;
    t.apply(
      batch(
        { category: "job", type: "succeeded", jobId: "a", outputDigest: "f".repeat(64) },
        { category: "job", type: "cancelled", jobId: "b", released: 0 },
        { category: "job", type: "failed", jobId: "c", taskId: "r-0-0", reason: "x", released: 0 },
      ),
    );
    expect(t.nextActions(at)).toEqual([]);
    const acts = t.nextActions(at + 500);
    expect(acts).toEqual([
      { type: "clean-partials", jobId: "a" },
      { type: "clean-partials", jobId: "b" },
    ]);
    expect(t.job("c")?.partials).toBe("kept");
    expect(t.job("a")?.digest).toBe("f".repeat(64));
    t.partialsCleaned("a", false);
    expect(t.nextActions(at + 500)).toEqual([{ type: "clean-partials", jobId: "a" }]);
  });

  it("deletes a deleted job's objects once, retries a failed deletion, also for a job it never saw", () => {
    const t = new JobTracker(opts);
    t.apply(batch(submitted("gone"), completed("m-0-0-0", 1, "0000000a", "gone")));
    t.apply(
      batch(
        { category: "job", type: "cancelled", jobId: "gone", released: 0 },
        { category: "job", type: "deleted", jobId: "gone" },
        // Submitted before the event stream's retention window: only its deletion is seen.
        { category: "job", type: "deleted", jobId: "aged-out" },
      ),
    );
    expect(t.job("gone")).toBeUndefined();
    expect(t.allJobs()).toEqual([]);
    const now = Number.MAX_SAFE_INTEGER;
    expect(t.nextActions(now)).toEqual([
      { type: "delete-job", jobId: "gone" },
      { type: "delete-job", jobId: "aged-out" },
    ]);
    expect(t.nextActions(now)).toEqual([]); // handed out once
    t.jobDeleted("gone", false);
    t.jobDeleted("aged-out", true);
    expect(t.pendingDeletions()).toEqual(["gone"]);
    expect(t.nextActions(now)).toEqual([{ type: "delete-job", jobId: "gone" }]);
    t.jobDeleted("gone", true);
    expect(t.pendingDeletions()).toEqual([]);
    expect(t.nextActions(now)).toEqual([]);
  });

  it("keeps partials with keepPartials and skips finished jobs' checks after a replay", () => {
    const t = new JobTracker({ ...opts, keepPartials: true });
    t.apply(batch(submitted(), completed("m-0-0-0")));
    t.apply(
      batch({ category: "job", type: "succeeded", jobId: "job-1", outputDigest: "e".repeat(64) }),
    );
    expect(t.nextActions(Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it("ignores a repeated batch index", () => {
    const t = new JobTracker(opts);
    const b = batch(submitted(), completed("m-0-0-0"));
    t.apply(b);
    t.nextActions(0);
    t.apply(b);
    expect(t.job("job-1")?.outputs.get("m-0-0-0")?.status).toBe("checking");
  });

  it("after resets from a verification, waits for those reduces again", () => {
    const t = new JobTracker(opts);
    t.apply(batch(submitted(), ...reduces.map((r) => completed(r))));
    for (const a of t.nextActions(0))
      if (a.type === "check-output") t.outputChecked(a.record, { ok: true });
    const [v] = t.nextActions(0);
    expect(v?.type).toBe("verify-job");
    t.jobVerified("job-1", [
      { type: "task-reset", jobId: "job-1", taskId: "r-0-1", reason: "unreadable" },
    ]);
    expect(t.job("job-1")?.resets).toBe(1);
    expect(t.nextActions(0)).toEqual([]);
    t.apply(batch(completed("r-0-1", 2)));
    const [c] = t.nextActions(0);
    if (c?.type !== "check-output") throw new Error("check");
    t.outputChecked(c.record, { ok: true });
    expect(t.nextActions(0).map((a) => a.type)).toEqual(["verify-job"]);
    t.jobVerified("job-1", [{ type: "job-verified", jobId: "job-1", verified: true, digest: "d" }]);
    expect(t.job("job-1")?.verify).toBe("proposed");
    expect(t.nextActions(0)).toEqual([]);
  });
});
