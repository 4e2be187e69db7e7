// Leader-only JetStream ingestion: a durable pull consumer on TESSERA_CMD (`tessera.cmd.>`) whose
// messages are proposed to Raft in batches and acked only after they are committed AND applied,
// so a leader crash never loses a command (it is redelivered to the next leader, and the FSM's
// client-session table makes the second apply a no-op).
//
// Why not messaging.consume(): it pulls and handles one message per slot, which cannot form
// Raft batches. Here ONE pull subscription feeds a queue in delivery order; each round takes
// what has queued up (group commit) and proposes it in order, so a publisher's commands reach
// the log in the order it published them.
// Decoding, terminating bad messages and provisioning still come from @tessera/messaging /
// @tessera/protocol, with the same guarantees: a bad message is terminated with a logged reason
// and never stalls the consumer.
import type { JsMsg } from "@nats-io/jetstream";
import {
  ensureDurableConsumer,
  type JetStreamClient,
  type JetStreamManager,
} from "@tessera/messaging";
import type { Logger } from "@tessera/observability";
import { CMD_STREAM, ProtocolError } from "@tessera/protocol";
import { ServiceError, ServiceErrorCode } from "../api/errors.js";
import type { ConsensusMetrics } from "../api/metrics.js";
import type { Proposer } from "../api/proposer.js";
import type { IncomingCommand } from "./completion-command.js";

export interface CommandConsumerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Only its batch door: everything this consumer proposes goes through one call per round. */
  proposer: Pick<Proposer, "proposeBatch">;
  metrics: ConsensusMetrics;
  logger: Logger;
  /** Durable consumer name (default "consensus"). */
  durable?: string;
  /** Most commands per Raft batch (default 256). */
  batchSize?: number;
  /** Consumer ack wait (default 5 s); in-progress acks keep long proposals alive. */
  ackWaitMs?: number;
  /**
   * The envelope bytes to propose for one message (validated; agent completions translated, see
   * completion-command.ts); throws ProtocolError for a bad one (it is terminated).
   */
  toCommand: (msg: IncomingCommand) => Uint8Array;
}

export interface CommandConsumerStats {
  proposed: number;
  acked: number;
  rejected: number;
  terminated: number;
  released: number;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

export class CommandConsumer {
  readonly stats: CommandConsumerStats = {
    proposed: 0,
    acked: 0,
    rejected: 0,
    terminated: 0,
    released: 0,
  };
  private readonly queue: JsMsg[] = [];
  private wake: (() => void) | undefined;
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private messages: { stop(): void } | undefined;
  private readonly durable: string;
  private readonly batchSize: number;
  private readonly ackWaitMs: number;
  private readonly log: Logger;

  constructor(private readonly o: CommandConsumerOptions) {
    this.durable = o.durable ?? "consensus";
    this.batchSize = o.batchSize ?? 256;
    this.ackWaitMs = o.ackWaitMs ?? 5_000;
    this.log = o.logger.child({ component: "command-consumer", durable: this.durable });
  }

  /** Creates/updates the durable consumer (idempotent; any peer may call it). */
  async provision(): Promise<void> {
    await ensureDurableConsumer(this.o.jsm, {
      stream: CMD_STREAM.name,
      durable: this.durable,
      filterSubject: "tessera.cmd.>",
      ackWaitMs: this.ackWaitMs,
      maxAckPending: Math.max(1000, this.batchSize * 8),
    });
  }

  get running(): boolean {
    return this.loop !== undefined;
  }

  /** Start consuming (on becoming leader). */
  start(): void {
    if (this.loop) return;
    this.abort = new AbortController();
    this.loop = this.run(this.abort.signal).catch((err: unknown) => {
      this.log.error({ err }, "command consumer failed");
    });
  }

  /** Stop consuming (on losing leadership / shutdown); queued messages go back at once. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.abort.abort();
    this.wake?.();
    this.messages?.stop();
    await this.loop;
    this.loop = undefined;
    this.messages = undefined;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.provision();
        let consumer = await this.o.js.consumers.get(CMD_STREAM.name, this.durable);
        const info = await consumer.info(true);
        if (info.num_ack_pending > 0) {
          // A previous leader died holding these. They must be applied BEFORE newer commands:
          // the manifest's session table runs a late lower seq only while it is above the
          // client's floor (it keeps 256 replies per client), so publication order is the safe
          // order. Waiting for their ack wait to lapse would stall every command for that long
          // (5 s by default: the job-level RTO of a leader loss). TESSERA_CMD is a work-queue
          // stream, which keeps every message until it is acked, so a re-created consumer
          // delivers them again at once, in stream order, ahead of everything newer. Whatever
          // the old holder still acks after this is redelivered and deduplicated by the
          // session table, as any redelivery is.
          this.log.info(
            { pending: info.num_ack_pending },
            "a previous leader left commands un-acked; re-creating the consumer so they come back now, in order",
          );
          await this.o.jsm.consumers.delete(CMD_STREAM.name, this.durable);
          await this.provision();
          consumer = await this.o.js.consumers.get(CMD_STREAM.name, this.durable);
          this.o.metrics.consumerResets.inc();
        }
        const messages = await consumer.consume({
          max_messages: this.batchSize * 2,
          expires: 2_000,
          callback: (m) => {
            this.queue.push(m);
            this.wake?.();
          },
        });
        this.messages = messages;
        this.log.info({ batchSize: this.batchSize }, "consuming commands");
        failures = 0;
        const closed = messages.closed().then(() => {
          this.wake?.();
        });
        let ended = false;
        void closed.then(() => {
          ended = true;
        });
        while (!signal.aborted && !ended) {
          if (this.queue.length === 0) {
            await new Promise<void>((r) => {
              this.wake = r;
            });
            this.wake = undefined;
            continue;
          }
          await this.round(this.queue.splice(0, this.batchSize));
        }
        messages.stop();
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        this.log.warn({ err, failures }, "command consumer error; retrying");
        await sleep(Math.min(2_000, 100 * 2 ** Math.min(failures, 5)), signal);
      }
    }
    // Whatever was pulled but not proposed goes straight back to the stream.
    for (const m of this.queue.splice(0)) {
      m.nak();
      this.stats.released++;
    }
  }

  /** Validate, propose in order, ack each after apply; NotLeader/unknown outcome → release. */
  private async round(batch: JsMsg[]): Promise<void> {
    const good: JsMsg[] = [];
    const commands: Uint8Array[] = [];
    for (const m of batch) {
      try {
        commands.push(this.o.toCommand({ subject: m.subject, data: m.data, seq: m.seq }));
        good.push(m);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        // No reason on the wire: nats-server 2.9 ignores "+TERM <reason>" and redelivers.
        m.term();
        this.stats.terminated++;
        this.o.metrics.commandsTerminated.inc();
        this.log.warn(
          { subject: m.subject, seq: m.seq, reason, protocol: err instanceof ProtocolError },
          "terminated invalid command",
        );
      }
    }
    if (good.length === 0) return;
    const keepAlive = setInterval(
      () => {
        for (const m of good) m.working();
      },
      Math.max(100, Math.floor(this.ackWaitMs / 3)),
    );
    try {
      const results = await this.o.proposer.proposeBatch(commands, "jetstream");
      this.stats.proposed += good.length;
      results.forEach((r, i) => {
        const m = good[i] as JsMsg;
        if (!r.parsed.ok) {
          // A rejected command was still applied (deterministically refused): ack it, never
          // redeliver it; the reason is in the reply and here.
          this.stats.rejected++;
          this.log.info(
            {
              subject: m.subject,
              seq: m.seq,
              index: r.index,
              code: r.parsed.code,
              reason: r.parsed.reason,
            },
            "command rejected by the manifest",
          );
        }
        m.ack();
        this.stats.acked++;
      });
    } catch (err) {
      const notLeader = err instanceof ServiceError && err.code === ServiceErrorCode.NotLeader;
      for (const m of good) m.nak(notLeader ? 0 : 200);
      this.stats.released += good.length;
      this.log.warn(
        { err: (err as Error).message, count: good.length, notLeader },
        "proposal failed; commands released for redelivery",
      );
      if (notLeader) this.abort.abort();
    } finally {
      clearInterval(keepAlive);
    }
  }
}
