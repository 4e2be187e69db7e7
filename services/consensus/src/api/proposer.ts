// The one door through which the shell proposes commands: validates the envelope before it can
// reach the log (a schema error costs a 400, not a log entry), turns the peer's errors into
// ServiceErrors that carry the leader's address, and records proposal metrics.
import { ProtocolError } from "@tessera/protocol";
import type { ProposeResult, RaftPeerApi } from "../peer/types.js";
import { decodeEnvelope, type Envelope } from "./envelope.js";
import { ServiceError, ServiceErrorCode } from "./errors.js";
import type { LeaderDirectory } from "./leader.js";
import type { ConsensusMetrics, ProposalSource } from "./metrics.js";

/** What a committed command produced, decoded for the caller. */
export interface ProposeOutcome extends ProposeResult {
  /** The FSM's reply, parsed (`{ok:true,...}` or `{ok:false, code, reason}`). */
  readonly parsed: ReplyJson;
}

export type ReplyJson =
  | { ok: true; result?: Record<string, unknown>; duplicate?: true }
  | { ok: false; code: string; reason: string; duplicate?: true };

const textDecoder = new TextDecoder();

export function parseReply(bytes: Uint8Array): ReplyJson {
  try {
    const v = JSON.parse(textDecoder.decode(bytes)) as unknown;
    if (typeof v === "object" && v !== null && typeof (v as { ok?: unknown }).ok === "boolean") {
      return v as ReplyJson;
    }
  } catch {
    // fall through: a reply that is not JSON is a bug in the FSM, reported below
  }
  return { ok: false, code: "internal", reason: "the state machine returned an unreadable reply" };
}

/** Does this error from the peer mean "I am not the leader"? (matched by code/name, not text) */
function isNotLeader(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown };
  return e?.name === "NotLeaderError" || (typeof e?.code === "string" && /NOT_LEADER/.test(e.code));
}

export class Proposer {
  constructor(
    private readonly peer: RaftPeerApi,
    private readonly directory: LeaderDirectory,
    private readonly metrics: ConsensusMetrics,
  ) {}

  /** Validates the envelope; throws ServiceError(BadRequest) naming the field. */
  validate(bytes: Uint8Array): Envelope {
    try {
      return decodeEnvelope(bytes);
    } catch (err) {
      if (err instanceof ProtocolError) {
        throw new ServiceError(ServiceErrorCode.BadRequest, err.message, { cause: err });
      }
      throw err;
    }
  }

  /** The error a follower answers writes with. */
  notLeader(): ServiceError {
    const leader = this.directory.leader();
    return new ServiceError(
      ServiceErrorCode.NotLeader,
      leader
        ? `peer ${this.peer.id} is not the leader; the leader is peer ${leader.id} (${leader.http ?? leader.grpc ?? "address unknown"})`
        : `peer ${this.peer.id} is not the leader and no leader is known yet`,
      { leader },
    );
  }

  /** Proposes one validated envelope (bytes as received) and waits for commit + apply. */
  async propose(bytes: Uint8Array, source: ProposalSource): Promise<ProposeOutcome> {
    if (!this.peer.isLeader()) {
      this.metrics.proposals.inc({ source, outcome: "not_leader" });
      throw this.notLeader();
    }
    try {
      const result = await this.peer.propose(bytes);
      const parsed = parseReply(result.reply);
      this.metrics.proposals.inc({ source, outcome: parsed.ok ? "ok" : "rejected" });
      return { ...result, parsed };
    } catch (err) {
      throw this.convert(err, source);
    }
  }

  /** Proposes many envelopes in one Raft batch (JetStream ingestion); results in order. */
  async proposeBatch(
    batch: readonly Uint8Array[],
    source: ProposalSource,
  ): Promise<ProposeOutcome[]> {
    if (!this.peer.isLeader()) {
      this.metrics.proposals.inc({ source, outcome: "not_leader" }, batch.length);
      throw this.notLeader();
    }
    try {
      const results = await this.peer.proposeBatch(batch);
      return results.map((r) => {
        const parsed = parseReply(r.reply);
        this.metrics.proposals.inc({ source, outcome: parsed.ok ? "ok" : "rejected" });
        return { ...r, parsed };
      });
    } catch (err) {
      throw this.convert(err, source, batch.length);
    }
  }

  private convert(err: unknown, source: ProposalSource, n = 1): ServiceError {
    if (err instanceof ServiceError) return err;
    if (isNotLeader(err)) {
      this.metrics.proposals.inc({ source, outcome: "not_leader" }, n);
      const e = this.notLeader();
      return new ServiceError(e.code, e.message, { cause: err, leader: e.leader });
    }
    this.metrics.proposals.inc({ source, outcome: "error" }, n);
    // Leadership lost before commit, peer stopping, ...: the outcome is unknown. Clients retry
    // with the same clientId/seq and the session table makes that safe.
    return new ServiceError(
      ServiceErrorCode.Unavailable,
      `proposal outcome unknown: ${(err as Error)?.message ?? String(err)} (retry with the same clientId/seq)`,
      { cause: err, leader: this.directory.leader() },
    );
  }
}
