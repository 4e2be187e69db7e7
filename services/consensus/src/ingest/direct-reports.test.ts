// Reports sent straight to the leader, against a real nats-server and a real manifest: the
// request/reply door, the translation into the same command TESSERA_CMD would carry, the
// Handover, and the answers an agent acts on (applied + handed work, unavailable, invalid,
// and the early hand-over sent before the report commits).

import { createInbox } from "@nats-io/nats-core";
import { type NatsServer, startNatsServer } from "@tessera/harness";
import { connect, type NatsConnection } from "@tessera/messaging";
import { createLogger } from "@tessera/observability";
import {
  type CompletionV1,
  type DirectReportReplyV1,
  type DirectReportV1,
  decodeDirectReportReply,
  encodeDirectReport,
  SUBJECTS,
} from "@tessera/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsensusMetrics } from "../api/metrics.js";
import { parseReply } from "../api/proposer.js";
import { Driver, upsert } from "../fsm/fsm.test-helpers.js";
import { DirectReports } from "./direct-reports.js";

const logger = createLogger({ service: "direct-reports-test", level: "silent" });
const EMPTY = { n: 32, tile: 16, mode: "empty", seed: 7 } as const;

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false, mode: "process" });
  nc = await connect({ servers: server.url, name: "direct-reports-test" });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/**
 * A leader whose proposals apply to `d`'s manifest; `down` makes it answer as a lost leader;
 * `replicating` runs between proposal and apply (the entry's Raft round).
 */
function leaderOver(
  d: Driver,
  state = { down: false },
  replicating: () => Promise<void> = async () => undefined,
) {
  const metrics = new ConsensusMetrics(1);
  const direct = new DirectReports({
    nc,
    metrics,
    logger,
    previewHandover: (cmd) => d.fsm.previewHandover(cmd),
    proposer: {
      propose: async (bytes) => {
        if (state.down) throw new Error("peer 1 is not the leader");
        await replicating();
        const sent = d.applyData(bytes);
        return {
          index: sent.entry.index,
          term: 1,
          reply: sent.outcome.reply,
          parsed: parseReply(sent.outcome.reply),
        };
      },
    },
  });
  return { direct, metrics, state };
}

/** Sends `report` (encoded as is, unchecked, when `raw`) and decodes the answer. */
async function ask(
  report: DirectReportV1 | Record<string, unknown>,
  raw = false,
): Promise<DirectReportReplyV1> {
  const bytes = raw
    ? new TextEncoder().encode(JSON.stringify(report))
    : encodeDirectReport(report as DirectReportV1);
  const msg = await nc.request(SUBJECTS.leaderReport, bytes, { timeout: 5_000 });
  return decodeDirectReportReply(msg.data);
}

/** The agent's report of attempt 1 of a task of `d`'s job (the output the manifest expects). */
function completionOf(d: Driver, jobId: string, taskId: string): CompletionV1 {
  const { output } = d.completion(jobId, taskId, 1);
  return {
    v: 1,
    itemId: `${jobId}/${taskId}/1`,
    jobId,
    taskId,
    attempt: 1,
    kind: taskId.startsWith("m-") ? "map" : "reduce",
    nodeId: "agent-1",
    status: "ok",
    output: { ...output, key: `${jobId}/${taskId}` },
    timings: { readMs: 0, computeMs: 0, writeMs: 0, totalMs: 0 },
    executionProvider: "cpu",
    completedAt: 1,
  };
}

/** Agent-1's report (seq 1 of its session) of attempt 1 of `taskId`. */
function directReport(
  d: Driver,
  jobId: string,
  taskId: string,
  over: Pick<DirectReportV1, "handoverMax"> & Partial<DirectReportV1>,
): DirectReportV1 {
  return {
    v: 1,
    clientId: "agent-agent-1-0000",
    seq: 1,
    pool: "cpu",
    completion: completionOf(d, jobId, taskId),
    ...over,
  };
}

/** Both maps of reduce r-0-0 started, the first completed, the reduce armed. */
function armedReduce(d: Driver): string {
  d.ok(upsert("agent-1"));
  const job = d.submit(EMPTY, "j");
  d.run(job, "m-0-0-0");
  expect(d.start(job, "m-0-0-1", 1).reply.ok).toBe(true);
  expect(
    d.send({ type: "attempt-start", jobId: job, taskId: "r-0-0", attempt: 1, whenReady: true })
      .reply.ok,
  ).toBe(true);
  return job;
}

/** Sends `report` and decodes every answer on its reply subject up to the final one. */
async function askAll(
  report: DirectReportV1,
  onEarly: () => void = () => undefined,
): Promise<DirectReportReplyV1[]> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { timeout: 5_000 });
  nc.publish(SUBJECTS.leaderReport, encodeDirectReport(report), { reply: inbox });
  const answers: DirectReportReplyV1[] = [];
  for await (const msg of sub) {
    const answer = decodeDirectReportReply(msg.data);
    answers.push(answer);
    if (answer.outcome !== "early") break;
    onEarly();
  }
  sub.unsubscribe();
  return answers;
}

describe("DirectReports (tessera.leader.report)", () => {
  it("applies the report and answers with the armed reduce it handed to the reporting agent", async () => {
    const d = new Driver();
    const job = armedReduce(d);
    const { direct, metrics } = leaderOver(d);
    direct.start();
    try {
      const report = directReport(d, job, "m-0-0-1", { handoverMax: 2 });
      const reply = await ask(report);
      expect(reply, reply.reason).toMatchObject({ outcome: "applied", ok: true });
      expect(reply.handed.map((i) => [i.itemId, i.pool, i.kind])).toEqual([
        [`${job}/r-0-0/1`, "cpu", "reduce"],
      ]);
      expect(d.fsm.getTask(job, "m-0-0-1")?.state).toBe("done");
      expect(d.fsm.getTask(job, "r-0-0")).toMatchObject({ state: "running", lastAttempt: 1 });
      // The same seq again (a retry after a lost answer): the same answer, applied once.
      const index = d.index;
      expect(await ask(report)).toEqual(reply);
      expect(d.fsm.getTask(job, "r-0-0")?.lastAttempt).toBe(1);
      expect(d.index).toBe(index + 1);
      expect(await metrics.registry.metrics()).toMatch(
        /tessera_consensus_handed_attempts_total\{[^}]*\} 2/,
      );
    } finally {
      direct.stop();
    }
  });

  it("sends the work a report would hand over before it commits when asked (early), then the final answer", async () => {
    const d = new Driver();
    const job = armedReduce(d);
    // The entry's replication waits until the early answer reached the agent.
    let release: () => void = () => undefined;
    const replicated = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { direct, metrics } = leaderOver(d, { down: false }, () => replicated);
    direct.start();
    try {
      const report = directReport(d, job, "m-0-0-1", { handoverMax: 1, early: true });
      let pendingAtEarly: unknown;
      const answers = await askAll(report, () => {
        // The report's entry is still replicating: nothing is applied yet.
        pendingAtEarly = d.fsm.getTask(job, "r-0-0");
        release();
      });
      expect(pendingAtEarly).toMatchObject({ state: "pending", lastAttempt: 0 });
      expect(answers.map((a) => a.outcome)).toEqual(["early", "applied"]);
      expect(answers[0]?.handed.map((i) => i.itemId)).toEqual([`${job}/r-0-0/1`]);
      expect(answers[1]?.handed.map((i) => i.itemId)).toEqual([`${job}/r-0-0/1`]);
      expect(await metrics.registry.metrics()).toMatch(
        /tessera_consensus_early_handovers_total\{[^}]*outcome="confirmed"[^}]*\} 1/,
      );

      // Not asked for (an agent predating it, or turned off): only the final answer.
      const d2 = new Driver();
      const job2 = armedReduce(d2);
      const plain = leaderOver(d2);
      direct.stop();
      plain.direct.start();
      try {
        const { early: _, ...without } = report;
        const only = await askAll({ ...without, completion: completionOf(d2, job2, "m-0-0-1") });
        expect(only.map((a) => a.outcome)).toEqual(["applied"]);
        expect(only[0]?.handed).toHaveLength(1);
      } finally {
        plain.direct.stop();
      }
    } finally {
      direct.stop();
    }
  });

  it("counts an early item the committed entry did not hand over (the manifest changed meanwhile)", async () => {
    const d = new Driver();
    const job = armedReduce(d);
    // A pause commits ahead of the report: the preview did not see it.
    const { direct, metrics } = leaderOver(d, { down: false }, async () => {
      d.ok({ type: "job-control", jobId: job, action: "pause" });
    });
    direct.start();
    try {
      const answers = await askAll(
        directReport(d, job, "m-0-0-1", { handoverMax: 1, early: true }),
      );
      expect(answers.map((a) => [a.outcome, a.handed.length])).toEqual([
        ["early", 1],
        ["applied", 0],
      ]);
      expect(d.fsm.getTask(job, "r-0-0")).toMatchObject({ state: "pending", lastAttempt: 0 });
      expect(await metrics.registry.metrics()).toMatch(
        /tessera_consensus_early_handovers_total\{[^}]*outcome="unconfirmed"[^}]*\} 1/,
      );
    } finally {
      direct.stop();
    }
  });

  it("answers `unavailable` when the proposal fails and `invalid` naming the field for a bad report", async () => {
    const d = new Driver();
    const job = d.submit(EMPTY, "j");
    const { direct } = leaderOver(d, { down: true });
    direct.start();
    try {
      const good = directReport(d, job, "m-0-0-0", { handoverMax: 0 });
      expect(await ask(good)).toMatchObject({
        outcome: "unavailable",
        reason: expect.stringContaining("not the leader"),
        handed: [],
      });
      const both = {
        ...good,
        batch: {
          v: 1,
          batchId: "b",
          nodeId: "agent-1",
          completions: [completionOf(d, job, "m-0-0-0")],
        },
      };
      expect(await ask(both, true)).toMatchObject({
        outcome: "invalid",
        reason: expect.stringContaining("exactly one of completion and batch"),
      });
      expect(await ask({ ...good, handoverMax: 65 }, true)).toMatchObject({
        outcome: "invalid",
        reason: expect.stringMatching(/\/handoverMax: must be an integer in 0\.\.64/),
      });
    } finally {
      direct.stop();
    }
  });

  it("stops answering when it stops (leadership lost): the agent then sees no responders", async () => {
    const d = new Driver();
    const { direct } = leaderOver(d);
    direct.start();
    direct.stop();
    await expect(
      nc.request(SUBJECTS.leaderReport, new Uint8Array(), { timeout: 2_000 }),
    ).rejects.toSatisfy(
      (e: unknown) => (e as { isNoResponders?: () => boolean }).isNoResponders?.() === true,
    );
  });
});
