import type { NodeId } from "@tessera/raft";
import type { PeerAddress } from "./types.js";

/**
 * Error catalogue of the Raft peer host. Each class has a stable `code` (TESSERA_E_*); the
 * service shell maps them to HTTP/gRPC statuses (NotLeader → 307/redirect, Lost → retry).
 */

/** This peer is not the leader; `leader` is the current leader's address when known. */
export class NotLeaderError extends Error {
  readonly code = "TESSERA_E_CONSENSUS_NOT_LEADER";
  constructor(
    readonly nodeId: NodeId,
    readonly leaderId: NodeId | 0,
    readonly leader: PeerAddress | undefined,
  ) {
    super(
      leaderId === 0
        ? `peer ${nodeId} is not the leader and no leader is known`
        : `peer ${nodeId} is not the leader; leader is ${leaderId}${leader ? ` at ${leader.grpc}` : ""}`,
    );
    this.name = "NotLeaderError";
  }
}

/**
 * A proposal was appended but leadership was lost (or the entry was overwritten, or it timed
 * out) before it was applied here. Its outcome is UNKNOWN: it may still commit under the next
 * leader. Retry with the same client session id/seq; the session table keeps it exactly-once.
 */
export class ProposalLostError extends Error {
  readonly code = "TESSERA_E_CONSENSUS_PROPOSAL_LOST";
  constructor(
    readonly index: number,
    readonly term: number,
    readonly reason: string,
  ) {
    super(`proposal at index ${index} (term ${term}) has an unknown outcome: ${reason}`);
    this.name = "ProposalLostError";
  }
}

/**
 * The leader refused a proposal before appending it (leadership transfer in progress, a
 * membership change already pending, ...). Nothing was appended; retry later.
 */
export class ProposalRejectedError extends Error {
  readonly code = "TESSERA_E_CONSENSUS_PROPOSAL_REJECTED";
  constructor(readonly reason: string) {
    super(`proposal rejected: ${reason}`);
    this.name = "ProposalRejectedError";
  }
}

/** The peer is stopped (or stopping); nothing more will be applied here. */
export class PeerStoppedError extends Error {
  readonly code = "TESSERA_E_CONSENSUS_STOPPED";
  constructor(
    readonly nodeId: NodeId,
    readonly reason: string,
  ) {
    super(`raft peer ${nodeId} is stopped: ${reason}`);
    this.name = "PeerStoppedError";
  }
}

/** An operation (read barrier, transfer, catch-up) did not finish in time. */
export class PeerTimeoutError extends Error {
  readonly code = "TESSERA_E_CONSENSUS_TIMEOUT";
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
  ) {
    super(`${operation} did not complete within ${timeoutMs} ms`);
    this.name = "PeerTimeoutError";
  }
}

/** A RaftPeer option or API argument is invalid. `field` names it. */
export class PeerArgumentError extends Error {
  readonly code = "TESSERA_E_CONSENSUS_ARGUMENT";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`invalid raft peer argument "${field}": ${reason}`);
    this.name = "PeerArgumentError";
  }
}

/** Snapshot bytes (ours: peer addresses + FSM image) are malformed. */
export class SnapshotEnvelopeError extends Error {
  readonly code = "TESSERA_E_CONSENSUS_SNAPSHOT";
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {
    super(`snapshot at index ${index} is malformed: ${reason}`);
    this.name = "SnapshotEnvelopeError";
  }
}
