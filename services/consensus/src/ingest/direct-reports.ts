// Leader-only: answers agents' reports sent straight to the leader (DirectReportV1 on
// `tessera.leader.report`, core NATS request/reply) once they are committed and applied, with
// the work items of the armed attempts they started for the reporting agent (services/agent
// README, "Direct reports"). This saves a dependent task two JetStream hand-offs each way: the
// completion's trip through TESSERA_CMD, and the reduce's trip through the scheduler and
// TESSERA_WORK. Nothing here is needed for safety: an agent that gets no `applied` answer
// publishes the same report on TESSERA_CMD (CommandConsumer), and a retried seq gets the reply
// the manifest's session table cached, handed work included.
import type { Msg } from "@nats-io/nats-core";
import type { NatsConnection } from "@tessera/messaging";
import type { Logger } from "@tessera/observability";
import {
  type DirectReportReplyV1,
  decodeDirectReport,
  encodeDirectReportReply,
  MAX_COMMAND_BYTES,
  ProtocolError,
  SUBJECTS,
  type WorkItemV1,
} from "@tessera/protocol";
import type { ConsensusMetrics } from "../api/metrics.js";
import type { Proposer } from "../api/proposer.js";
import { directReportBytes } from "./completion-command.js";

/** Only the leader subscribes; the queue group keeps a stale leader from answering twice. */
const QUEUE = "tessera-leader";
const REASON_MAX = 4096;

export interface DirectReportsOptions {
  nc: NatsConnection;
  proposer: Pick<Proposer, "propose">;
  metrics: ConsensusMetrics;
  logger: Logger;
}

export class DirectReports {
  private sub: ReturnType<NatsConnection["subscribe"]> | undefined;
  private readonly log: Logger;

  constructor(private readonly o: DirectReportsOptions) {
    this.log = o.logger.child({ component: "direct-reports" });
  }

  /** On becoming leader. */
  start(): void {
    if (this.sub) return;
    this.sub = this.o.nc.subscribe(SUBJECTS.leaderReport, {
      queue: QUEUE,
      callback: (err, msg) => {
        if (!err) void this.answer(msg);
      },
    });
  }

  /** On losing leadership / shutdown: requests in flight still get their answer. */
  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }

  private async answer(msg: Msg): Promise<void> {
    const reply = await this.handle(msg.data);
    this.o.metrics.directReports.inc({ outcome: reply.outcome });
    if (reply.handed.length > 0) this.o.metrics.handedAttempts.inc(reply.handed.length);
    msg.respond(encodeDirectReportReply(reply));
  }

  /** One request → its answer; never throws. */
  async handle(data: Uint8Array): Promise<DirectReportReplyV1> {
    let bytes: Uint8Array;
    try {
      bytes = directReportBytes(decodeDirectReport(data, MAX_COMMAND_BYTES));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.log.warn({ reason: err.message }, "refused an invalid direct report");
      return { v: 1, outcome: "invalid", reason: err.message.slice(0, REASON_MAX), handed: [] };
    }
    try {
      const { parsed } = await this.o.proposer.propose(bytes, "direct");
      if (!parsed.ok) {
        return {
          v: 1,
          outcome: "applied",
          ok: false,
          code: parsed.code.slice(0, 128),
          reason: parsed.reason.slice(0, REASON_MAX),
          handed: [],
        };
      }
      const handed = (parsed.result?.handed as WorkItemV1[] | undefined) ?? [];
      return { v: 1, outcome: "applied", ok: true, handed };
    } catch (err) {
      // Not the leader any more, or the outcome is unknown: the agent retries or uses JetStream.
      const reason = (err instanceof Error ? err.message : String(err)).slice(0, REASON_MAX);
      this.log.debug({ reason }, "direct report not committed here");
      return { v: 1, outcome: "unavailable", reason, handed: [] };
    }
  }
}
