// Proposes manifest commands by publishing command envelopes on TESSERA_CMD
// (`tessera.cmd.storage.<type>`). The consensus leader's ingestion proposes them to Raft and acks
// only after apply, so a proposal survives leader changes and our own restarts without a reply
// channel; the outcome is observed as committed events (job.succeeded / job.failed / task.reset).
// Exactly-once: one session (clientId) per process, seq in publish order, Nats-Msg-Id per seq.
import { randomBytes } from "node:crypto";
import { type JetStreamClient, type NatsConnection, publishWithDedup } from "@tessera/messaging";
import type { Logger } from "@tessera/observability";
import { MANIFEST_COMMAND_TYPES } from "@tessera/protocol";
import { StorageManagerError, StorageManagerErrorCode } from "./errors.js";
import type { Proposal } from "./tracker.js";

/** Subject a storage-manager proposal is published on. */
export function proposalSubject(type: Proposal["type"]): string {
  return `tessera.cmd.storage.${type}`;
}

/** The envelope bytes of one proposal (the FSM's CommandEnvelopeV1). */
export function encodeProposal(clientId: string, seq: number, proposal: Proposal): Uint8Array {
  const env = { v: 1, clientId, seq, ackedSeq: seq - 1, cmd: proposal };
  return new TextEncoder().encode(JSON.stringify(env));
}

export interface ProposerStats {
  published: Record<string, number>;
  skipped: Record<string, number>;
}

export class CommandProposer {
  readonly clientId: string;
  readonly stats: ProposerStats = { published: {}, skipped: {} };
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly known: ReadonlySet<string>;

  /**
   * `nc`, the connection `js` publishes through: a publish waiting for its PubAck when the link
   * comes back after an outage is retried at once instead of waiting out its 5 s timeout (the
   * verdicts it carries gate reduces and job completion).
   */
  constructor(
    private readonly js: JetStreamClient,
    nodeId: string,
    private readonly log: Logger,
    knownTypes: readonly string[] = MANIFEST_COMMAND_TYPES,
    private readonly nc?: NatsConnection,
  ) {
    // A fresh session per process: seqs restart at 1, so an old session's cache never answers.
    this.clientId = `${nodeId}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`.slice(
      0,
      64,
    );
    this.known = new Set(knownTypes);
  }

  /** Whether the manifest's command schema (libs/protocol) knows this command type. */
  supports(type: Proposal["type"]): boolean {
    return this.known.has(type);
  }

  /**
   * Publishes in call order (seq order is what the session table expects). A command type the
   * protocol does not define is skipped with a warning instead of being sent: the ingestion would
   * terminate it and leave a gap in this session's seqs.
   */
  propose(proposal: Proposal): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      if (!this.supports(proposal.type)) {
        this.stats.skipped[proposal.type] = (this.stats.skipped[proposal.type] ?? 0) + 1;
        this.log.warn(
          { jobId: proposal.jobId, command: proposal.type },
          "manifest protocol has no such command yet; proposal skipped",
        );
        return false;
      }
      const seq = ++this.seq;
      try {
        await publishWithDedup(
          this.js,
          proposalSubject(proposal.type),
          encodeProposal(this.clientId, seq, proposal),
          `${this.clientId}:${seq}`,
          { attempts: 10, ...(this.nc ? { retryOnReconnect: this.nc } : {}) },
        );
      } catch (err) {
        throw new StorageManagerError(
          StorageManagerErrorCode.Propose,
          `could not publish ${proposal.type} for job ${proposal.jobId}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      this.stats.published[proposal.type] = (this.stats.published[proposal.type] ?? 0) + 1;
      this.log.info({ jobId: proposal.jobId, command: proposal, seq }, "proposed");
      return true;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
