// Leader-only: answers agents' reports sent straight to the leader (DirectReportV1 on
// `tessera.leader.report`, core NATS request/reply) once they are committed and applied, with
// the work items of the armed attempts they started for the reporting agent (services/agent
// README, "Direct reports"). This saves a dependent task two JetStream hand-offs each way: the
// completion's trip through TESSERA_CMD, and the reduce's trip through the scheduler and
// TESSERA_WORK. Nothing here is needed for safety: an agent that gets no `applied` answer
// publishes the same report on TESSERA_CMD (CommandConsumer), and a retried seq gets the reply
// the manifest's session table cached, handed work included.
//
// A report that asks for it (`early`) first gets the work it would hand over as the manifest
// stands now (ManifestFsm.previewHandover), before its entry is replicated: the agent starts
// the reduce one Raft round sooner. Only the final answer binds; the metric below counts how
// often the two agreed.
import type { Msg } from "@nats-io/nats-core";
import type { NatsConnection } from "@tessera/messaging";
import type { Logger } from "@tessera/observability";
import {
  type DirectReportReplyV1,
  type DirectReportV1,
  decodeDirectReport,
  encodeDirectReportReply,
  MAX_COMMAND_BYTES,
  type ManifestCommand,
  ProtocolError,
  SUBJECTS,
  type WorkItemV1,
} from "@tessera/protocol";
import type { ConsensusMetrics } from "../api/metrics.js";
import type { Proposer } from "../api/proposer.js";
import { directReportEnvelope } from "./completion-command.js";

/** Only the leader subscribes; the queue group keeps a stale leader from answering twice. */
const QUEUE = "tessera-leader";
const REASON_MAX = 4096;

export interface DirectReportsOptions {
  nc: NatsConnection;
  proposer: Pick<Proposer, "propose">;
  /** The work `cmd` would hand over if applied now (ManifestFsm.previewHandover). */
  previewHandover: (cmd: ManifestCommand) => WorkItemV1[];
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
    const reply = await this.handle(msg.data, (early) =>
      msg.respond(encodeDirectReportReply(early)),
    );
    this.o.metrics.directReports.inc({ outcome: reply.outcome });
    if (reply.handed.length > 0) this.o.metrics.handedAttempts.inc(reply.handed.length);
    msg.respond(encodeDirectReportReply(reply));
  }

  /**
   * One request → its final answer; never throws. `sendEarly` gets the early answer when the
   * report asked for one and would hand work over.
   */
  async handle(
    data: Uint8Array,
    sendEarly?: (early: DirectReportReplyV1) => void,
  ): Promise<DirectReportReplyV1> {
    let report: DirectReportV1;
    let bytes: Uint8Array;
    let cmd: ManifestCommand;
    try {
      report = decodeDirectReport(data, MAX_COMMAND_BYTES);
      ({ bytes, cmd } = directReportEnvelope(report));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.log.warn({ reason: err.message }, "refused an invalid direct report");
      return { v: 1, outcome: "invalid", reason: err.message.slice(0, REASON_MAX), handed: [] };
    }
    const early =
      sendEarly && report.early === true && report.handoverMax > 0 ? this.preview(cmd) : [];
    if (early.length > 0) sendEarly?.({ v: 1, outcome: "early", handed: early });
    try {
      const { parsed } = await this.o.proposer.propose(bytes, "direct");
      this.countEarly(early, parsed.ok ? parsed.result?.handed : undefined);
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
      this.countEarly(early, undefined);
      this.log.debug({ reason }, "direct report not committed here");
      return { v: 1, outcome: "unavailable", reason, handed: [] };
    }
  }

  /** The early hand-over; none if the preview fails (a bug there must not cost the report). */
  private preview(cmd: ManifestCommand): WorkItemV1[] {
    try {
      return this.o.previewHandover(cmd);
    } catch (err) {
      this.log.error({ err }, "previewing a report's hand-over failed; no early answer");
      return [];
    }
  }

  /** Early items the committed reply handed over too (confirmed), and the rest. */
  private countEarly(early: readonly WorkItemV1[], handed: unknown): void {
    if (early.length === 0) return;
    const final = new Set(((handed as WorkItemV1[] | undefined) ?? []).map((i) => i.itemId));
    const confirmed = early.filter((i) => final.has(i.itemId)).length;
    if (confirmed > 0) this.o.metrics.earlyHandovers.inc({ outcome: "confirmed" }, confirmed);
    if (confirmed < early.length) {
      this.o.metrics.earlyHandovers.inc({ outcome: "unconfirmed" }, early.length - confirmed);
    }
  }
}
