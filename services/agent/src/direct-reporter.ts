// Where a finished work item's report goes. First straight to the consensus leader
// (DirectReportV1 on `tessera.leader.report`): it answers once the report is committed, with the
// work items of the armed reduces the report started and handed to this agent, which run next
// without a trip through the scheduler and the work queue. When the leader does not answer with
// `applied` (none subscribed during an election, the proposal's outcome unknown) the report is
// published on TESSERA_CMD as before: that stream stays the durable path, and the manifest
// applies a report once however it arrives (fencing; the same seq gets the cached reply).
//
// A report that was committed but whose answer was lost, and whose retries found no leader,
// goes to TESSERA_CMD as a repeat: its handed reduce (bound to this node) then waits for its
// deadline to be expired and retried — the one case that costs time, never data.
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
  /** undefined: direct reports off, everything goes to TESSERA_CMD. */
  request: ((report: DirectReportV1) => Promise<DirectAnswer>) | undefined;
  publishCompletion(outcome: ExecutionOutcome): Promise<void>;
  publishCompletions(batchId: string, outcomes: readonly ExecutionOutcome[]): Promise<void>;
  /** Each settled report: the path it took and the items handed over with it. */
  onReported?: (path: "direct" | "stream", handed: number) => void;
  logger: Logger;
  /** Tries of one seq before TESSERA_CMD (default 3). */
  tries?: number;
  /** Pause between tries after an `unavailable` answer (default 25 ms). */
  retryDelayMs?: number;
}

export class DirectReporter {
  /** The manifest session of this agent process: a restart starts a new one. */
  readonly clientId: string;
  private seq = 0;
  /** Seqs still waiting for their final answer (the lowest bounds ackedSeq). */
  private readonly open = new Set<number>();
  private readonly tries: number;
  private readonly retryDelayMs: number;

  constructor(private readonly o: DirectReporterOptions) {
    this.clientId = `agent-${o.nodeId}-${randomBytes(4).toString("hex")}`.slice(-64);
    this.tries = o.tries ?? 3;
    this.retryDelayMs = o.retryDelayMs ?? 25;
  }

  /** Reports one item; resolves once it is committed or stored, with the work handed over. */
  async report(outcome: ExecutionOutcome): Promise<readonly WorkItemV1[]> {
    const handed = await this.viaLeader({ completion: outcome.completion });
    if (handed) return this.settled("direct", handed);
    await this.o.publishCompletion(outcome);
    return this.settled("stream", []);
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
    return this.settled("stream", []);
  }

  private settled(path: "direct" | "stream", handed: readonly WorkItemV1[]): readonly WorkItemV1[] {
    this.o.onReported?.(path, handed.length);
    return handed;
  }

  /** The handed work once the leader applied the report; undefined: use TESSERA_CMD. */
  private async viaLeader(
    body: { completion: CompletionV1 } | { batch: CompletionBatchV1 },
  ): Promise<readonly WorkItemV1[] | undefined> {
    const request = this.o.request;
    if (!request) return undefined;
    const seq = ++this.seq;
    this.open.add(seq);
    try {
      for (let attempt = 1; attempt <= this.tries; attempt++) {
        const report: DirectReportV1 = {
          v: 1,
          clientId: this.clientId,
          seq,
          ackedSeq: Math.min(...this.open) - 1,
          pool: this.o.pool,
          handoverMax: Math.max(0, Math.min(MAX_HANDOVER, this.o.handoverMax())),
          ...body,
        };
        const answer = await request(report);
        if (answer.kind === "no-leader") return undefined;
        if (answer.kind === "reply") {
          const r = answer.reply;
          if (r.outcome === "applied") return r.handed;
          if (r.outcome === "invalid") {
            // Cannot happen with a valid completion; TESSERA_CMD's validation reports it too.
            this.o.logger.error({ reason: r.reason, seq }, "the leader refused a direct report");
            return undefined;
          }
        }
        const reason = answer.kind === "lost" ? answer.reason : answer.reply.reason;
        this.o.logger.debug({ seq, attempt, reason }, "direct report not applied; retrying");
        if (attempt < this.tries) await sleep(this.retryDelayMs * attempt);
      }
      return undefined;
    } finally {
      // Answered or given up: this seq is never sent again.
      this.open.delete(seq);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
