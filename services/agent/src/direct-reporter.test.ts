import { createLogger } from "@tessera/observability";
import {
  type DirectReportV1,
  decodeDirectReport,
  encodeDirectReport,
  type WorkItemV1,
} from "@tessera/protocol";
import { describe, expect, it, vi } from "vitest";
import {
  type DirectAnswer,
  DirectReporter,
  type DirectReporterOptions,
} from "./direct-reporter.js";
import type { ExecutionOutcome } from "./task-executor.js";

const spec = { n: 64, tile: 32, mode: "exact" as const, seed: 1 };

const outcome = (taskId: string): ExecutionOutcome => ({
  retryable: false,
  completion: {
    v: 1,
    itemId: `job-1/${taskId}/1`,
    jobId: "job-1",
    taskId,
    attempt: 1,
    kind: "map",
    nodeId: "agent-a",
    executionProvider: "cpu",
    status: "ok",
    output: { uri: `file:///x/${taskId}`, key: `k/${taskId}`, checksum: "0000abcd", bytes: 4 },
    timings: { readMs: 0, computeMs: 0, writeMs: 0, totalMs: 0 },
    completedAt: 1,
  },
});

const reduce: WorkItemV1 = {
  v: 1,
  itemId: "job-1/r-0-0/1",
  jobId: "job-1",
  taskId: "r-0-0",
  attempt: 1,
  kind: "reduce",
  job: spec,
  i: 0,
  j: 0,
  pool: "cpu",
  issuedAt: 5,
};

const applied = (handed: WorkItemV1[] = []): DirectAnswer => ({
  kind: "reply",
  reply: { v: 1, outcome: "applied", ok: true, handed },
});
/** The manifest refused the report (applied, not ok). */
const refused: DirectAnswer = {
  kind: "reply",
  reply: { v: 1, outcome: "applied", ok: false, code: "stale-attempt", reason: "lost", handed: [] },
};
const unavailable: DirectAnswer = {
  kind: "reply",
  reply: { v: 1, outcome: "unavailable", reason: "not the leader", handed: [] },
};

/**
 * A reporter whose leader answers from `answers` (in order) and whose TESSERA_CMD is a list;
 * `over` replaces any option (a test's own `request`, `handoverMax`).
 */
function reporterWith(
  answers: DirectAnswer[],
  on = true,
  over: Partial<DirectReporterOptions> = {},
) {
  const sent: DirectReportV1[] = [];
  const published: string[] = [];
  const settled: string[] = [];
  const recovered: string[] = [];
  const reporter = new DirectReporter({
    nodeId: "agent-a",
    pool: "cpu",
    handoverMax: () => 2,
    request: on
      ? async (report) => {
          // What goes on the wire must pass the leader's validation.
          sent.push(decodeDirectReport(encodeDirectReport(report)) as DirectReportV1);
          return answers.shift() ?? applied();
        }
      : undefined,
    publishCompletion: async (o) => {
      published.push(o.completion.taskId);
    },
    publishCompletions: async (batchId) => {
      published.push(`batch ${batchId}`);
    },
    onReported: (path, handed) => settled.push(`${path} ${handed}`),
    onHanded: (items) => recovered.push(...items.map((i) => i.itemId)),
    logger: createLogger({ service: "direct-reporter-test", level: "silent" }),
    retryDelayMs: 1,
    recoverDelayMs: 1,
    ...over,
  });
  return { reporter, sent, published, settled, recovered };
}

describe("DirectReporter", () => {
  it("returns the work the leader handed over and publishes nothing on TESSERA_CMD", async () => {
    const { reporter, sent, published, settled } = reporterWith([applied([reduce])]);
    await expect(reporter.report(outcome("m-0-0-0"))).resolves.toEqual([reduce]);
    expect(published).toEqual([]);
    expect(settled).toEqual(["direct 1"]);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      clientId: reporter.clientId,
      seq: 1,
      ackedSeq: 0,
      pool: "cpu",
      handoverMax: 2,
      completion: { taskId: "m-0-0-0" },
    });
  });

  it("settles a report the manifest refused like a stored one (no TESSERA_CMD copy)", async () => {
    const { reporter, published } = reporterWith([refused]);
    await expect(reporter.report(outcome("m-0-0-0"))).resolves.toEqual([]);
    expect(published).toEqual([]);
  });

  it("publishes on TESSERA_CMD at once when no leader listens", async () => {
    const { reporter, sent, published, settled } = reporterWith([{ kind: "no-leader" }]);
    await expect(reporter.report(outcome("m-0-0-0"))).resolves.toEqual([]);
    expect(sent).toHaveLength(1);
    expect(published).toEqual(["m-0-0-0"]);
    expect(settled).toEqual(["stream 0"]);
  });

  it("retries the same seq while the outcome is unknown, then falls back to TESSERA_CMD", async () => {
    const lost: DirectAnswer = { kind: "lost", reason: "timeout" };
    const { reporter, sent, published } = reporterWith([unavailable, lost, unavailable]);
    await expect(reporter.report(outcome("m-0-0-0"))).resolves.toEqual([]);
    expect(sent.map((r) => r.seq)).toEqual([1, 1, 1]);
    expect(published).toEqual(["m-0-0-0"]);
    // A later try that is answered gets the reply of the seq it retries (the manifest caches it).
    const second = reporterWith([unavailable, applied([reduce])]);
    await expect(second.reporter.report(outcome("m-0-0-0"))).resolves.toEqual([reduce]);
    expect(second.sent.map((r) => r.seq)).toEqual([1, 1]);
    expect(second.published).toEqual([]);
  });

  it("asks again in the background after a lost answer and hands over the work it recovers", async () => {
    const lost: DirectAnswer = { kind: "lost", reason: "timeout" };
    // Seq 1: lost twice, then no leader (so it goes to TESSERA_CMD); the background re-asks
    // find no leader, then one that is not ready, then the new leader answering from its cache.
    const bySeq = new Map<number, DirectAnswer[]>([
      [
        1,
        [lost, lost, { kind: "no-leader" }, { kind: "no-leader" }, unavailable, applied([reduce])],
      ],
      [2, [applied()]],
    ]);
    const sent: DirectReportV1[] = [];
    const { reporter, published, recovered } = reporterWith([], true, {
      request: async (report) => {
        sent.push(report);
        return bySeq.get(report.seq)?.shift() ?? { kind: "no-leader" };
      },
    });
    await expect(reporter.report(outcome("m-0-0-0"))).resolves.toEqual([]);
    expect(published).toEqual(["m-0-0-0"]);
    // While seq 1 is being recovered the manifest must keep its reply: ackedSeq stays below it.
    await reporter.report(outcome("m-0-0-1"));
    expect(sent.find((r) => r.seq === 2)?.ackedSeq).toBe(0);
    await vi.waitFor(() => expect(recovered).toEqual([reduce.itemId]));
    expect(sent.filter((r) => r.seq === 1)).toHaveLength(6);

    // No responders at all means nobody applied it: nothing to recover, no more requests.
    const after = reporterWith([{ kind: "no-leader" }]);
    await after.reporter.report(outcome("m-0-0-0"));
    await new Promise((r) => setTimeout(r, 20));
    expect(after.sent).toHaveLength(1);
  });

  it("acknowledges only seqs below every report still waiting for its answer", async () => {
    const sent: DirectReportV1[] = [];
    const held: ((a: DirectAnswer) => void)[] = [];
    const { reporter } = reporterWith([], true, {
      request: (report) => {
        sent.push(report);
        return new Promise<DirectAnswer>((r) => held.push(r));
      },
    });
    const first = reporter.report(outcome("m-0-0-0"));
    const second = reporter.report(outcome("m-0-0-1"));
    held[1]?.(applied());
    await second;
    const third = reporter.report(outcome("m-0-0-2"));
    // Seq 1 is still open: nothing above 0 may be forgotten by the manifest yet.
    expect(sent.map((r) => [r.seq, r.ackedSeq])).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
    ]);
    held[0]?.(applied());
    await first;
    const fourth = reporter.report(outcome("m-0-0-3"));
    expect(sent[3]).toMatchObject({ seq: 4, ackedSeq: 2 });
    held[2]?.(applied());
    held[3]?.(applied());
    await Promise.all([third, fourth]);
  });

  it("sends a batch's reports as one and, when off, goes straight to TESSERA_CMD", async () => {
    const { reporter, sent } = reporterWith([applied([reduce])]);
    await expect(
      reporter.reportBatch("job-1/m-0-0-0/1", [outcome("m-0-0-0"), outcome("m-0-0-1")]),
    ).resolves.toEqual([reduce]);
    expect(sent[0]?.batch?.completions.map((c) => c.taskId)).toEqual(["m-0-0-0", "m-0-0-1"]);
    const off = reporterWith([], false);
    await expect(off.reporter.report(outcome("m-0-0-0"))).resolves.toEqual([]);
    await off.reporter.reportBatch("b", [outcome("m-0-0-1")]);
    expect(off.published).toEqual(["m-0-0-0", "batch b"]);
  });

  it("passes early work on at once, then runs only what the final answer adds and withdraws what it does not confirm", async () => {
    const other: WorkItemV1 = { ...reduce, itemId: "job-1/r-0-1/1", taskId: "r-0-1", j: 1 };
    const third: WorkItemV1 = { ...reduce, itemId: "job-1/r-1-0/1", taskId: "r-1-0", i: 1 };
    const withdrawn: string[] = [];
    const sent: DirectReportV1[] = [];
    const order: string[] = [];
    // Seq 1: early [reduce, other], unavailable; the retry gets early [reduce] again (already
    // passed on), then the final answer handing over [reduce, third]: other was mispredicted.
    const answers: [WorkItemV1[], DirectAnswer][] = [
      [[reduce, other], unavailable],
      [[reduce], applied([reduce, third])],
    ];
    const { reporter, recovered, settled } = reporterWith([], true, {
      early: true,
      request: async (report, onEarly) => {
        sent.push(report);
        const [early, answer] = answers.shift() ?? [[], applied()];
        if (early.length > 0) onEarly(early);
        order.push(`answer ${report.seq}`);
        return answer;
      },
      onHanded: (items) => order.push(...items.map((i) => `early ${i.taskId}`)),
      onUnconfirmed: (items) => withdrawn.push(...items.map((i) => i.itemId)),
    });
    await expect(reporter.report(outcome("m-0-0-0"))).resolves.toEqual([third]);
    expect(sent.map((r) => [r.seq, r.early])).toEqual([
      [1, true],
      [1, true],
    ]);
    expect(order).toEqual(["early r-0-0", "early r-0-1", "answer 1", "answer 1"]);
    expect(withdrawn).toEqual([other.itemId]);
    expect(recovered).toEqual([]);
    // Counted as handed over: everything the committed report handed to this agent.
    expect(settled).toEqual(["direct 2"]);

    // A refused report confirms nothing; without `early` the request does not ask for it.
    const gone: string[] = [];
    const second = reporterWith([], true, {
      early: true,
      request: async (_report, onEarly) => {
        onEarly([reduce]);
        return refused;
      },
      onUnconfirmed: (items) => gone.push(...items.map((i) => i.itemId)),
    });
    await expect(second.reporter.report(outcome("m-0-0-0"))).resolves.toEqual([]);
    expect(gone).toEqual([reduce.itemId]);
    const plain = reporterWith([applied()]);
    await plain.reporter.report(outcome("m-0-0-0"));
    expect(plain.sent[0]).not.toHaveProperty("early");
  });

  it("stops asking for early hand-overs when the leader predates them (refuses the field)", async () => {
    const { reporter, sent, published } = reporterWith([], true, {
      early: true,
      request: async (report) => {
        sent.push(report);
        return report.early === true
          ? {
              kind: "reply",
              reply: {
                v: 1,
                outcome: "invalid",
                reason: "direct report: /early: is not an allowed field",
                handed: [],
              },
            }
          : applied([reduce]);
      },
    });
    await expect(reporter.report(outcome("m-0-0-0"))).resolves.toEqual([reduce]);
    await reporter.report(outcome("m-0-0-1"));
    // The same seq again without the field, and every later report without it.
    expect(sent.map((r) => [r.seq, r.early ?? false])).toEqual([
      [1, true],
      [1, false],
      [2, false],
    ]);
    expect(published).toEqual([]);
  });

  it("keeps early work of a report whose outcome stays unknown until a recovered answer settles it", async () => {
    const lost: DirectAnswer = { kind: "lost", reason: "timeout" };
    const withdrawn: string[] = [];
    let calls = 0;
    const { reporter, recovered } = reporterWith([], true, {
      early: true,
      tries: 1,
      request: async (_report, onEarly) => {
        calls++;
        if (calls === 1) {
          onEarly([reduce]);
          return lost;
        }
        return applied([reduce]);
      },
      onUnconfirmed: (items) => withdrawn.push(...items.map((i) => i.itemId)),
    });
    await expect(reporter.report(outcome("m-0-0-0"))).resolves.toEqual([]);
    expect(recovered).toEqual([reduce.itemId]);
    await vi.waitFor(() => expect(calls).toBe(2));
    await new Promise((r) => setTimeout(r, 20));
    // The recovered answer confirms it: not passed on twice, not withdrawn.
    expect(recovered).toEqual([reduce.itemId]);
    expect(withdrawn).toEqual([]);
  });

  it("asks for no work while the agent takes none (stopping)", async () => {
    let slotsFree = 2;
    const { reporter, sent } = reporterWith([], true, { handoverMax: () => slotsFree });
    await reporter.report(outcome("m-0-0-0"));
    slotsFree = 0;
    await reporter.report(outcome("m-0-0-1"));
    expect(sent.map((r) => r.handoverMax)).toEqual([2, 0]);
  });

  it("keeps the session id within the manifest's limit for the longest node id", () => {
    const { reporter } = reporterWith([]);
    expect(reporter.clientId).toMatch(/^agent-agent-a-[0-9a-f]{8}$/);
    const long = reporterWith([], false, { nodeId: "n".repeat(64) }).reporter;
    expect(long.clientId.length).toBeLessThanOrEqual(64);
  });
});
