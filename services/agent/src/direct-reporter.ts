// Where a finished work item's report goes. First straight to the consensus leader
// (DirectReportV1 on `tessera.leader.report`): it answers once the report is committed, with the
// work items of the armed reduces the report started and handed to this agent, which run next
// without a trip through the scheduler and the work queue. When the leader does not answer with
// `applied` (none subscribed during an election, the proposal's outcome unknown) the report is
// published on TESSERA_CMD as before: that stream stays the durable path, and the manifest
// applies a report once however it arrives (fencing; the same seq gets the cached reply).
//
// With `early` the leader also sends, before the report commits, the work it would hand over as
// the manifest stands (an early hand-over): it goes to the work loop at once, so a dependent
// reduce starts one Raft round sooner. The final answer settles it: its `handed` minus what
// came early is returned; early work it does not list is withdrawn (onUnconfirmed). Early work
// of a report whose outcome stays unknown is kept: the report may well have been applied.
//
// A report that may have been committed but whose answer was lost goes to TESSERA_CMD as well;
// the same seq is then asked again in the background until a leader answers, so work it handed
// over (bound to this node) is not left waiting for its deadline (recover).
import { randomBytes } from "node:crypto";
import type { Logger } from "@tessera/observability";
import {
  type CompletionBatchV1,
  type CompletionV1,
  type DirectReportReplyV1,
  type DirectReportV1,
  MAX_HANDOVER,
  type WorkItemV1,
} from "@tessera/protocol";
import type { ExecutionOutcome } from "./task-executor.js";

/** One request to the leader, as the bus reports it. */
export type DirectAnswer =
  | { readonly kind: "reply"; readonly reply: DirectReportReplyV1 }
  /** Nobody subscribed: no leader right now (or every peer predates direct reports). */
  | { readonly kind: "no-leader" }
  /** No answer in time, or the request failed otherwise: the outcome is unknown. */
  | { readonly kind: "lost"; readonly reason: string };

export interface DirectReporterOptions {
  nodeId: string;
  pool: string;
  /** Most armed reduces one report may take over now (the slots; 0 while stopping). */
  handoverMax: () => number;
  /**
   * undefined: direct reports off, everything goes to TESSERA_CMD. `onEarly` gets the work of
   * an early answer, if one comes before the final answer.
   */
  request:
    | ((
        report: DirectReportV1,
        onEarly: (items: readonly WorkItemV1[]) => void,
      ) => Promise<DirectAnswer>)
    | undefined;
  /** Ask for early hand-overs (the work a report would hand over, before it commits). */
  early?: boolean;
  publishCompletion(outcome: ExecutionOutcome): Promise<void>;
  publishCompletions(batchId: string, outcomes: readonly ExecutionOutcome[]): Promise<void>;
  /** Each settled report: the path it took and the items handed over with it. */
  onReported?: (path: "direct" | "stream", handed: number) => void;
  logger: Logger;
  /** Tries of one seq before TESSERA_CMD (default 3). */
  tries?: number;
  /** Pause between tries after an `unavailable` answer (default 25 ms). */
  retryDelayMs?: number;
  /** Work handed over early, or recovered from a report whose answer was lost (see recover). */
  onHanded?: (items: readonly WorkItemV1[]) => void;
  /** Early work the report's final answer did not hand over: not this agent's to run. */
  onUnconfirmed?: (items: readonly WorkItemV1[]) => void;
  /** Tries of recover, and the step of its growing pause (defaults 10, 100 ms: ~5.5 s). */
  recoverTries?: number;
  recoverDelayMs?: number;
}

export class DirectReporter {
  /** The manifest session of this agent process: a restart starts a new one. */
  readonly clientId: string;
  private seq = 0;
  /** Ask for early hand-overs (off for good once a leader refuses the field). */
  private askEarly: boolean;
  /** Seqs still waiting for their final answer (the lowest bounds ackedSeq). */
  private readonly open = new Set<number>();
  private readonly tries: number;
  private readonly retryDelayMs: number;
  private readonly recoverTries: number;
  private readonly recoverDelayMs: number;

  constructor(private readonly o: DirectReporterOptions) {
    this.clientId = `agent-${o.nodeId}-${randomBytes(4).toString("hex")}`.slice(-64);
    this.tries = o.tries ?? 3;
    this.retryDelayMs = o.retryDelayMs ?? 25;
    this.recoverTries = o.recoverTries ?? 10;
    this.recoverDelayMs = o.recoverDelayMs ?? 100;
    this.askEarly = o.early === true;
  }

  /** Reports one item; resolves once it is committed or stored, with the work handed over. */
  async report(outcome: ExecutionOutcome): Promise<readonly WorkItemV1[]> {
    const handed = await this.viaLeader({ completion: outcome.completion });
    if (handed) return this.settled("direct", handed);
    await this.o.publishCompletion(outcome);
    return this.settled("stream", NOTHING);
  }

  /** Reports one work batch's items (CompletionBatchV1) the same way. */
  async reportBatch(
    batchId: string,
    outcomes: readonly ExecutionOutcome[],
  ): Promise<readonly WorkItemV1[]> {
    const batch: CompletionBatchV1 = {
      v: 1,
      batchId,
      nodeId: this.o.nodeId,
      completions: outcomes.map((o) => o.completion),
    };
    const handed = await this.viaLeader({ batch });
    if (handed) return this.settled("direct", handed);
    await this.o.publishCompletions(batchId, outcomes);
    return this.settled("stream", NOTHING);
  }

  /** The work to run now (what came early already went to onHanded). */
  private settled(path: "direct" | "stream", handed: Handed): readonly WorkItemV1[] {
    this.o.onReported?.(path, handed.count);
    return handed.run;
  }

  /** The handed work once the leader applied the report; undefined: use TESSERA_CMD. */
  private async viaLeader(body: ReportBody): Promise<Handed | undefined> {
    const request = this.o.request;
    if (!request) return undefined;
    const seq = ++this.seq;
    this.open.add(seq);
    const early = new EarlyWork(this.o.onHanded);
    let outcomeUnknown = false;
    for (let attempt = 1; attempt <= this.tries; attempt++) {
      const answer = await this.ask(request, seq, body, early);
      if (answer.kind === "no-leader") break;
      if (answer.kind === "reply" && answer.reply.outcome === "applied") {
        this.open.delete(seq);
        const handed = answer.reply.handed;
        return { run: this.settleEarly(early, handed), count: handed.length };
      }
      if (answer.kind === "reply" && answer.reply.outcome === "invalid") {
        if (this.askEarly && /\/early\b/.test(answer.reply.reason ?? "")) {
          // A leader older than early hand-overs refuses the field: ask it the plain way, this
          // seq and every later one (a rolling upgrade that reached agents before peers).
          this.askEarly = false;
          this.o.logger.warn(
            { reason: answer.reply.reason },
            "the leader does not know early hand-overs; reporting without them from now on",
          );
          attempt--;
          continue;
        }
        // Cannot happen with a valid completion; TESSERA_CMD's validation reports it too.
        this.o.logger.error(
          { reason: answer.reply.reason, seq },
          "the leader refused a direct report",
        );
        this.open.delete(seq);
        return undefined;
      }
      outcomeUnknown = true;
      const reason = answer.kind === "lost" ? answer.reason : answer.reply.reason;
      this.o.logger.debug({ seq, attempt, reason }, "direct report not applied; retrying");
      if (attempt < this.tries) await sleep(this.retryDelayMs * attempt);
    }
    if (outcomeUnknown) void this.recover(request, seq, body, early);
    else this.open.delete(seq);
    return undefined;
  }

  /** The final answer's work not already sent early; early work it does not list is withdrawn. */
  private settleEarly(early: EarlyWork, handed: readonly WorkItemV1[]): readonly WorkItemV1[] {
    const { fresh, unconfirmed } = early.settle(handed);
    if (unconfirmed.length > 0) {
      this.o.logger.info(
        { items: unconfirmed.map((i) => i.itemId) },
        "early hand-over not confirmed by the committed report; withdrawn",
      );
      this.o.onUnconfirmed?.(unconfirmed);
    }
    return fresh;
  }

  /**
   * A report whose outcome stayed unknown (the leader may have applied it and died before
   * answering) went to TESSERA_CMD. If it was applied, the work it handed over is bound to this
   * node and sits in the manifest's cached reply: ask again with the same seq until a leader
   * answers (the seq stays open meanwhile, so ackedSeq keeps that reply), and hand what comes
   * back to `onHanded`. Without this such a reduce would wait for its deadline.
   */
  private async recover(
    request: NonNullable<DirectReporterOptions["request"]>,
    seq: number,
    body: ReportBody,
    early: EarlyWork,
  ): Promise<void> {
    try {
      for (let attempt = 1; attempt <= this.recoverTries; attempt++) {
        await sleep(this.recoverDelayMs * attempt);
        const answer = await this.ask(request, seq, body, early);
        if (answer.kind !== "reply" || answer.reply.outcome === "unavailable") continue;
        const handed =
          answer.reply.outcome === "applied" ? this.settleEarly(early, answer.reply.handed) : [];
        if (handed.length > 0) {
          this.o.logger.warn(
            { seq, items: handed.map((i) => i.itemId) },
            "recovered work handed over with a report whose answer was lost",
          );
          this.o.onHanded?.(handed);
        }
        return;
      }
    } finally {
      this.open.delete(seq);
    }
  }

  /** One request for `seq`, with the session's current ackedSeq and handover room. */
  private ask(
    request: NonNullable<DirectReporterOptions["request"]>,
    seq: number,
    body: ReportBody,
    early: EarlyWork,
  ): Promise<DirectAnswer> {
    return request(
      {
        v: 1,
        clientId: this.clientId,
        seq,
        ackedSeq: Math.min(...this.open) - 1,
        pool: this.o.pool,
        handoverMax: Math.max(0, Math.min(MAX_HANDOVER, this.o.handoverMax())),
        ...body,
        ...(this.askEarly ? { early: true } : {}),
      },
      (items) => early.arrived(items),
    );
  }
}

/** One report's early work: passed on once each (a retried seq may get it again). */
class EarlyWork {
  private readonly sent = new Map<string, WorkItemV1>();

  constructor(private readonly deliver: ((items: readonly WorkItemV1[]) => void) | undefined) {}

  arrived(items: readonly WorkItemV1[]): void {
    const fresh = items.filter((i) => !this.sent.has(i.itemId));
    for (const i of fresh) this.sent.set(i.itemId, i);
    if (fresh.length > 0) this.deliver?.(fresh);
  }

  /** The final answer's items not sent early, and the early ones it does not list. */
  settle(handed: readonly WorkItemV1[]): {
    fresh: WorkItemV1[];
    unconfirmed: WorkItemV1[];
  } {
    const final = new Set(handed.map((i) => i.itemId));
    return {
      fresh: handed.filter((i) => !this.sent.has(i.itemId)),
      unconfirmed: [...this.sent.values()].filter((i) => !final.has(i.itemId)),
    };
  }
}

type ReportBody = { completion: CompletionV1 } | { batch: CompletionBatchV1 };

/** What the final answer handed over: how many items, and those not already sent early. */
interface Handed {
  readonly run: readonly WorkItemV1[];
  readonly count: number;
}
const NOTHING: Handed = { run: [], count: 0 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
