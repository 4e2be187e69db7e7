import type { NodeId } from "@tessera/raft";

/**
 * What the service shell (api/, ingestion) needs from a running Raft peer. Implemented by
 * RaftPeer (peer/raft-peer.ts), which drives a RawNode over a DurableLog and a PeerTransport.
 */

export type PeerRole = "leader" | "follower" | "candidate" | "pre-candidate" | "learner";

export interface PeerAddress {
  readonly id: NodeId;
  /** host:port of the peer's gRPC server (Raft and Manifest services). */
  readonly grpc: string;
  /** http://host:port of the peer's HTTP API, when known. */
  readonly http?: string | undefined;
}

export interface ProposeResult {
  readonly index: number;
  readonly term: number;
  /** The state machine's encoded reply (see StateMachine.apply). */
  readonly reply: Uint8Array;
}

export interface PeerStatus {
  readonly id: NodeId;
  readonly role: PeerRole;
  readonly term: number;
  readonly leaderId: NodeId | 0;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly snapshotIndex: number;
  /** Voters and learners with the leader's view of their match index (leader only). */
  readonly members: readonly {
    id: NodeId;
    voter: boolean;
    address?: PeerAddress | undefined;
    matchIndex?: number | undefined;
  }[];
}

export interface RaftPeerEvents {
  /** Leadership changed (leaderId 0 = none known). */
  onLeaderChange(listener: (leaderId: NodeId | 0, term: number) => void): () => void;
  /** Called after each committed application entry has been applied, in index order. */
  onApplied(
    listener: (
      index: number,
      events: readonly import("../state-machine.js").ManifestEventOut[],
    ) => void,
  ): () => void;
}

export interface RaftPeerApi extends RaftPeerEvents {
  readonly id: NodeId;
  status(): PeerStatus;
  isLeader(): boolean;
  leaderAddress(): PeerAddress | undefined;
  /**
   * Proposes a command on the leader; resolves once it is committed AND applied locally. Rejects
   * with NotLeaderError (carrying the leader's address, if known) on a follower, and with a
   * typed error if leadership is lost before the entry commits (the outcome is then unknown;
   * clients retry with the same session id/seq to stay exactly-once).
   */
  propose(data: Uint8Array): Promise<ProposeResult>;
  /** Proposes many commands in one Raft batch (used by JetStream ingestion). */
  proposeBatch(data: readonly Uint8Array[]): Promise<ProposeResult[]>;
  /** Linearizable read barrier (ReadIndex): resolves when the local FSM is at least as fresh as
   *  the leader's commit index at the time of the call. Leader only; followers forward. */
  readBarrier(): Promise<number>;
  transferLeadership(to?: NodeId): Promise<void>;
  addPeer(address: PeerAddress, asLearnerFirst?: boolean): Promise<void>;
  removePeer(id: NodeId): Promise<void>;
  stop(opts?: { transfer?: boolean }): Promise<void>;
}
