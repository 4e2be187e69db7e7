// The agent's NATS edge, composed from @tessera/messaging: connect, make sure the streams and the
// pool's durable pull consumer exist (idempotent and race-tolerant: many agents start at once),
// pull work, publish completions with dedup ids and heartbeats on core NATS. The work loop only
// sees WorkSource and the publish functions, so this file is the only place the agent names NATS.
import type { NatsSecurity } from "@tessera/config";
import {
  closeGracefully,
  connect,
  ensureDurableConsumer,
  InterimReplies,
  type JetStreamClient,
  jetstream,
  jetstreamManagerWhenReady,
  type NatsConnection,
  nextWithDeadline,
  provisionStreams,
  publishWithDedup,
  workConsumerOptions,
} from "@tessera/messaging";
import type { Logger } from "@tessera/observability";
import {
  type AgentControlReplyV1,
  type AgentControlRequest,
  agentControlSubject,
  agentDurableName,
  CMD_STREAM,
  completionBatchMsgId,
  completionMsgId,
  type DirectReportReplyV1,
  type DirectReportV1,
  decodeAgentControlRequest,
  decodeDirectReportReply,
  encodeAgentControlReply,
  encodeCompletion,
  encodeCompletionBatch,
  encodeDirectReport,
  encodeHeartbeat,
  type HeartbeatV1,
  heartbeatSubject,
  SUBJECTS,
  WORK_STREAM,
  type WorkItemV1,
} from "@tessera/protocol";
import type { DirectAnswer } from "./direct-reporter.js";
import type { ExecutionOutcome } from "./task-executor.js";
import type { WorkMessage, WorkSource } from "./work-loop.js";

export interface BusOptions {
  servers: string[];
  name: string;
  pool: string;
  ackWaitMs: number;
  maxDeliver: number;
  replicas: number;
  /** How long one pull waits for a message before returning null. */
  pullExpiresMs?: number;
  logger?: Logger;
  /** NATS credentials and TLS (`--nats-creds` … `--nats-tls-key`). */
  security?: NatsSecurity;
}

export class AgentBus {
  /** Direct reports' replies: an early hand-over, then the final answer, on one reply subject. */
  private readonly replies: InterimReplies;

  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly opts: BusOptions,
  ) {
    this.replies = new InterimReplies(nc);
  }

  static async connect(opts: BusOptions): Promise<AgentBus> {
    const nc = await connect({
      servers: opts.servers,
      name: opts.name,
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.security ? { security: opts.security } : {}),
    });
    return new AgentBus(nc, jetstream(nc), opts);
  }

  /** Creates the CMD and WORK streams and the pool consumer unless they exist already. */
  async provision(): Promise<void> {
    const jsm = await jetstreamManagerWhenReady(this.nc);
    await provisionStreams(jsm, {
      replicas: this.opts.replicas,
      streams: [CMD_STREAM, WORK_STREAM],
    });
    await ensureDurableConsumer(
      jsm,
      workConsumerOptions(this.opts.pool, {
        ackWaitMs: this.opts.ackWaitMs,
        maxDeliver: this.opts.maxDeliver,
      }),
    );
  }

  async workSource(): Promise<WorkSource> {
    const consumer = await this.js.consumers.get(
      WORK_STREAM.name,
      agentDurableName(this.opts.pool),
    );
    const expires = this.opts.pullExpiresMs ?? 1_000;
    return {
      next: async (): Promise<WorkMessage | null> =>
        nextWithDeadline(consumer, { expiresMs: expires }),
    };
  }

  /** Publishes a completion command and resolves once the CMD stream has stored it. */
  async publishCompletion(outcome: ExecutionOutcome): Promise<void> {
    const c = outcome.completion;
    await publishWithDedup(
      this.js,
      SUBJECTS.taskComplete,
      encodeCompletion(c),
      completionMsgId(c.itemId),
      { retryOnReconnect: this.nc },
    );
  }

  /** Publishes one work batch's completions (CompletionBatchV1) once the CMD stream stored it. */
  async publishCompletions(
    batchId: string,
    nodeId: string,
    outcomes: readonly ExecutionOutcome[],
  ): Promise<void> {
    const completions = outcomes.map((o) => o.completion);
    await publishWithDedup(
      this.js,
      SUBJECTS.taskCompleteBatch,
      encodeCompletionBatch({ v: 1, batchId, nodeId, completions }),
      completionBatchMsgId(batchId),
      { retryOnReconnect: this.nc },
    );
  }

  /**
   * Sends a report straight to the consensus leader (core NATS request/reply, no stream), and
   * passes the work of an `early` answer to `onEarly` as it arrives. Never throws: "no-leader"
   * when nobody subscribes, "lost" when no final answer (readable) came back in `timeoutMs`.
   */
  async requestDirect(
    report: DirectReportV1,
    timeoutMs: number,
    onEarly: (items: readonly WorkItemV1[]) => void,
  ): Promise<DirectAnswer> {
    let final: DirectReportReplyV1 | undefined;
    try {
      const outcome = await this.replies.request(
        SUBJECTS.leaderReport,
        encodeDirectReport(report),
        {
          timeoutMs,
          classify: (msg) => {
            const reply = decodeDirectReportReply(msg.data);
            if (reply.outcome !== "early") {
              final = reply;
              return "final";
            }
            onEarly(reply.handed);
            return "interim";
          },
        },
      );
      if (outcome.kind === "no-responders") return { kind: "no-leader" };
      if (outcome.kind === "timeout" || !final) {
        return { kind: "lost", reason: `no answer in ${timeoutMs} ms` };
      }
      return { kind: "reply", reply: final };
    } catch (err) {
      return { kind: "lost", reason: err instanceof Error ? err.message : String(err) };
    }
  }

  publishHeartbeat(hb: HeartbeatV1): void {
    this.nc.publish(heartbeatSubject(hb.nodeId), encodeHeartbeat(hb));
  }

  /**
   * Answers control requests on `tessera.ctl.agent.<nodeId>` (core NATS request/reply). A request
   * that does not decode is answered with the reason, never thrown: the asker gets an answer
   * either way, and the agent keeps running.
   */
  serveControl(
    nodeId: string,
    handle: (req: AgentControlRequest) => Omit<AgentControlReplyV1, "v" | "nodeId">,
    current: () => AgentControlReplyV1["state"],
  ): void {
    this.nc.subscribe(agentControlSubject(nodeId), {
      callback: (err, msg) => {
        if (err) return;
        let reply: AgentControlReplyV1;
        try {
          reply = { v: 1, nodeId, ...handle(decodeAgentControlRequest(msg.data)) };
        } catch (e) {
          const error = (e instanceof Error ? e.message : String(e)).slice(0, 1000) || "refused";
          reply = { v: 1, nodeId, state: current(), changed: false, error };
        }
        msg.respond(encodeAgentControlReply(reply));
      },
    });
  }

  /** Flushes what is buffered (the final heartbeat) and closes; at once without a server. */
  async drain(): Promise<void> {
    await closeGracefully(this.nc);
  }
}
