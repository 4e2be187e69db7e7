import { createLogger } from "@tessera/observability";
import { type WorkItemV1, workItemId } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import type { ExecutionOutcome } from "./task-executor.js";
import { WorkLoop, type WorkLoopOptions, type WorkMessage, type WorkSource } from "./work-loop.js";

const spec = { n: 128, tile: 32, mode: "exact" as const, seed: 1 };

function item(n: number): WorkItemV1 {
  const taskId = `m-0-0-${n}`;
  return {
    v: 1,
    itemId: workItemId("job-1", taskId, 1),
    jobId: "job-1",
    taskId,
    attempt: 1,
    kind: "map",
    job: spec,
    i: 0,
    j: 0,
    k: n,
    pool: "cpu",
    issuedAt: 1,
  };
}

interface FakeMessage extends WorkMessage {
  readonly n: number;
  settledAs: string | undefined;
}

/** An in-memory work queue: `next` hands out the queued messages, then null. */
function queueOf(count: number): { source: WorkSource; messages: FakeMessage[] } {
  return queueOfBodies(
    Array.from({ length: count }, (_, n) => ({ subject: "tessera.work.cpu.map", body: item(n) })),
  );
}

function queueOfBodies(bodies: readonly { subject: string; body: unknown }[]): {
  source: WorkSource;
  messages: FakeMessage[];
} {
  const messages: FakeMessage[] = bodies.map(({ subject, body }, n) => {
    const m: FakeMessage = {
      n,
      settledAs: undefined,
      subject,
      data: new TextEncoder().encode(JSON.stringify(body)),
      info: { deliveryCount: 1 },
      ack: () => {
        m.settledAs = "ack";
      },
      nak: () => {
        m.settledAs = "nak";
      },
      term: () => {
        m.settledAs = "term";
      },
      working: () => undefined,
    };
    return m;
  });
  let next = 0;
  return {
    messages,
    source: {
      next: async () => {
        const m = messages[next];
        if (!m) {
          await new Promise((r) => setTimeout(r, 5));
          return null;
        }
        next++;
        return m;
      },
    },
  };
}

const outcomeOf = (w: WorkItemV1): ExecutionOutcome => ({
  retryable: false,
  completion: {
    v: 1,
    itemId: w.itemId,
    jobId: w.jobId,
    taskId: w.taskId,
    attempt: w.attempt,
    kind: w.kind,
    nodeId: "agent-test",
    executionProvider: "cpu",
    status: "ok",
    output: {
      uri: `file:///x/${w.taskId}`,
      key: `jobs/job-1/partials/${w.taskId}`,
      checksum: "00000000",
      bytes: 1,
    },
    timings: { readMs: 0, computeMs: 0, writeMs: 0, totalMs: 0 },
    completedAt: 1,
  },
});

/** A loop over `source` with the fixed test settings; the rest comes from the test. */
const loopOver = (
  source: WorkSource,
  o: Pick<WorkLoopOptions, "slots" | "execute" | "report"> &
    Partial<Pick<WorkLoopOptions, "reportBatch">>,
) =>
  new WorkLoop({
    reportBatch: async () => {
      throw new Error("this test publishes no batch");
    },
    ...o,
    ackWaitMs: 30_000,
    maxDeliver: 5,
    source,
    logger: createLogger({ service: "work-loop-test", level: "silent" }),
  });

describe("WorkLoop", () => {
  it("runs the next item while a completion is still being published, and acks only after it is stored", async () => {
    const { source, messages } = queueOf(3);
    const executed: number[] = [];
    const publishes: { n: number; release: () => void }[] = [];
    const loop = loopOver(source, {
      slots: 1,
      execute: async (w) => {
        executed.push(w.k as number);
        return outcomeOf(w);
      },
      report: (o) =>
        new Promise<undefined>((resolve) => {
          publishes.push({
            n: Number(o.completion.taskId.split("-")[3]),
            release: () => resolve(undefined),
          });
        }),
    });
    loop.start();
    await until(() => executed.length === 2);
    // Item 0's completion is not stored yet, item 1 already ran: the slot did not wait for it.
    expect(publishes.map((p) => p.n)).toEqual([0]);
    expect(messages[0]?.settledAs).toBeUndefined();
    // One slot ⇒ at most one item waiting to be settled: item 1 holds its slot until 0 settles,
    // so item 2 has not been pulled.
    await new Promise((r) => setTimeout(r, 30));
    expect(executed).toEqual([0, 1]);
    expect(loop.runningTasks().map((t) => t.taskId)).toEqual(["m-0-0-0", "m-0-0-1"]);

    publishes[0]?.release();
    await until(() => messages[0]?.settledAs === "ack" && executed.length === 3);
    expect(messages[1]?.settledAs).toBeUndefined();

    // stop() waits for the completions still being published before it resolves.
    const stopped = loop.stop(5_000);
    publishes[1]?.release();
    await until(() => publishes.length === 3);
    publishes[2]?.release();
    await expect(stopped).resolves.toEqual({ released: 0 });
    expect(messages.map((m) => m.settledAs)).toEqual(["ack", "ack", "ack"]);
    expect(loop.runningTasks()).toEqual([]);
  });

  it("hands an item back (nak) when its completion cannot be stored", async () => {
    const { source, messages } = queueOf(1);
    const loop = loopOver(source, {
      slots: 2,
      execute: async (w) => outcomeOf(w),
      report: async () => {
        throw new Error("JetStream unavailable");
      },
    });
    loop.start();
    await until(() => messages[0]?.settledAs !== undefined);
    await loop.stop(1_000);
    expect(messages[0]?.settledAs).toBe("nak");
  });
});

describe("WorkLoop with work handed over in a report's reply", () => {
  const { k: _k, ...mapFields } = item(0);
  const reduce: WorkItemV1 = {
    ...mapFields,
    itemId: workItemId("job-1", "r-0-0", 1),
    taskId: "r-0-0",
    kind: "reduce",
  };

  it("runs it at once in the slot that waits on a pull, and handles that pull's message next", async () => {
    const { messages } = queueOf(2);
    let deliverSecond: (m: WorkMessage) => void = () => undefined;
    let pulls = 0;
    const source: WorkSource = {
      next: async () => {
        pulls++;
        if (pulls === 1) return messages[0] as WorkMessage;
        if (pulls === 2) return new Promise<WorkMessage>((r) => (deliverSecond = r));
        await new Promise((r) => setTimeout(r, 5));
        return null;
      },
    };
    const executed: string[] = [];
    const loop = loopOver(source, {
      slots: 1,
      execute: async (w) => {
        executed.push(w.taskId);
        return outcomeOf(w);
      },
      report: async (o) => (o.completion.taskId === "m-0-0-0" ? [reduce] : []),
    });
    loop.start();
    await until(() => executed.length === 2);
    // The reduce ran while the second pull was still open; that pull was not abandoned.
    expect(executed).toEqual(["m-0-0-0", "r-0-0"]);
    expect(pulls).toBe(2);
    deliverSecond(messages[1] as WorkMessage);
    await until(() => messages[1]?.settledAs === "ack");
    expect(executed).toEqual(["m-0-0-0", "r-0-0", "m-0-0-1"]);
    await loop.stop(1_000);
    expect(messages.map((m) => m.settledAs)).toEqual(["ack", "ack"]);
  });

  /** One slot, busy with the queued map until `finishMap()`; `executed` lists what it ran. */
  async function loopBusyWithAMap() {
    const { source } = queueOf(1);
    let finish: () => void = () => undefined;
    const executed: string[] = [];
    const loop = loopOver(source, {
      slots: 1,
      execute: async (w) => {
        executed.push(w.taskId);
        if (w.taskId === "m-0-0-0") await new Promise<void>((r) => (finish = r));
        return outcomeOf(w);
      },
      report: async () => [],
    });
    loop.start();
    await until(() => executed.length === 1);
    return { loop, executed, finishMap: () => finish() };
  }

  it("lists handed work waiting for a slot as held (heartbeats), then as running, then not at all", async () => {
    const { loop, executed, finishMap } = await loopBusyWithAMap();
    loop.acceptHanded([reduce]);
    // The only slot is busy: the reduce waits, and the node still says it holds it.
    expect(loop.runningTasks().map((t) => t.taskId)).toEqual(["m-0-0-0", "r-0-0"]);
    finishMap();
    await until(() => executed.length === 2);
    await until(() => loop.runningTasks().length === 0);
    await loop.stop(1_000);
  });

  it("drops withdrawn early work that has not started (the committed report did not hand it over)", async () => {
    const { loop, executed, finishMap } = await loopBusyWithAMap();
    const kept: WorkItemV1 = { ...reduce, itemId: "job-1/r-0-1/1", taskId: "r-0-1", j: 1 };
    loop.acceptHanded([reduce, kept]);
    loop.withdrawHanded([reduce]);
    expect(loop.runningTasks().map((t) => t.taskId)).toEqual(["m-0-0-0", "r-0-1"]);
    finishMap();
    await until(() => executed.length === 2);
    await loop.stop(1_000);
    expect(executed).toEqual(["m-0-0-0", "r-0-1"]);
  });

  it("reports a transient failure of handed work as failed (there is no message to hand back)", async () => {
    const { source, messages } = queueOf(1);
    const reports: { taskId: string; status: string }[] = [];
    const loop = loopOver(source, {
      slots: 2,
      execute: async (w) =>
        w.kind === "reduce" ? { ...failedOutcomeOf(w), retryable: true } : outcomeOf(w),
      report: async (o) => {
        reports.push({ taskId: o.completion.taskId, status: o.completion.status });
        return o.completion.taskId === "m-0-0-0" ? [reduce] : [];
      },
    });
    loop.start();
    await until(() => reports.length === 2);
    await loop.stop(1_000);
    expect(reports).toEqual([
      { taskId: "m-0-0-0", status: "ok" },
      { taskId: "r-0-0", status: "failed" },
    ]);
    expect(messages[0]?.settledAs).toBe("ack");
  });
});

describe("WorkLoop with a work batch (tessera.work.<pool>.batch)", () => {
  const batchOf = (items: WorkItemV1[]) => ({
    subject: "tessera.work.cpu.batch",
    body: { v: 1, batchId: items[0]?.itemId, jobId: "job-1", pool: "cpu", items },
  });

  it("runs every item in order, reports them in one message, then acks once", async () => {
    const { source, messages } = queueOfBodies([batchOf([item(0), item(1), item(2)])]);
    const executed: number[] = [];
    const reports: { batchId: string; taskIds: string[] }[] = [];
    const loop = loopOver(source, {
      slots: 2,
      execute: async (w) => {
        executed.push(w.k as number);
        // A transient failure inside a batch is reported failed, never handed back.
        return w.k === 1 ? { ...failedOutcomeOf(w), retryable: true } : outcomeOf(w);
      },
      report: async () => {
        throw new Error("a batch is reported as one message");
      },
      reportBatch: async (batchId, outcomes) => {
        reports.push({ batchId, taskIds: outcomes.map((o) => o.completion.taskId) });
        return [];
      },
    });
    loop.start();
    await until(() => messages[0]?.settledAs !== undefined);
    await loop.stop(1_000);
    expect(executed).toEqual([0, 1, 2]);
    expect(reports).toEqual([
      { batchId: "job-1/m-0-0-0/1", taskIds: ["m-0-0-0", "m-0-0-1", "m-0-0-2"] },
    ]);
    expect(messages[0]?.settledAs).toBe("ack");
  });

  it("hands the whole batch back (nak) when its completions cannot be stored", async () => {
    const { source, messages } = queueOfBodies([batchOf([item(0), item(1)])]);
    const loop = loopOver(source, {
      slots: 1,
      execute: async (w) => outcomeOf(w),
      report: async () => undefined,
      reportBatch: async () => {
        throw new Error("JetStream unavailable");
      },
    });
    loop.start();
    await until(() => messages[0]?.settledAs !== undefined);
    await loop.stop(1_000);
    expect(messages[0]?.settledAs).toBe("nak");
  });

  it("terminates a batch that mixes jobs instead of running any of it", async () => {
    const other = { ...item(1), jobId: "job-2", itemId: workItemId("job-2", "m-0-0-1", 1) };
    const { source, messages } = queueOfBodies([batchOf([item(0), other])]);
    const executed: string[] = [];
    const loop = loopOver(source, {
      slots: 1,
      execute: async (w) => {
        executed.push(w.itemId);
        return outcomeOf(w);
      },
      report: async () => undefined,
    });
    loop.start();
    await until(() => messages[0]?.settledAs !== undefined);
    await loop.stop(1_000);
    expect(messages[0]?.settledAs).toBe("term");
    expect(executed).toEqual([]);
  });
});

const failedOutcomeOf = (w: WorkItemV1): ExecutionOutcome => {
  const ok = outcomeOf(w).completion;
  const { output: _output, ...rest } = ok;
  return {
    retryable: false,
    completion: { ...rest, status: "failed", error: { code: "STORE", message: "unreachable" } },
  };
};

async function until(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 2));
  }
}
