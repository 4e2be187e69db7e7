import type { Message } from "./message.js";
import type { ConfState, Entry, HardState, NodeId, Snapshot } from "./types.js";

export enum StateType {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

/** Volatile state; not persisted. Present in a Ready only when it changed. */
export interface SoftState {
  readonly lead: NodeId;
  readonly state: StateType;
}

/**
 * A linearizable read is safe at `index`: once the host has applied up to `index`, it may serve
 * the read identified by `ctx` (the bytes passed to readIndex).
 */
export interface ReadState {
  readonly index: number;
  readonly ctx: Uint8Array;
}

/**
 * One batch of work for the host. See RawNode for the contract: persist snapshot, entries and
 * hardState (fsync when mustSync) BEFORE sending messages; then apply snapshot and
 * committedEntries; then call advance(rd).
 */
export interface Ready {
  /** Present when leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed; persist it. */
  readonly hardState?: HardState;
  /** Entries to append to stable storage (may replace a conflicting uncommitted suffix). */
  readonly entries: Entry[];
  /** A snapshot received from the leader: persist it, then restore the state machine from it. */
  readonly snapshot?: Snapshot;
  /** Committed entries to apply, in order. May include entries from `entries` of this Ready. */
  readonly committedEntries: Entry[];
  /** Messages to send, only after the above is durable. */
  readonly messages: Message[];
  /** Linearizable reads that became safe. */
  readonly readStates: ReadState[];
  /** True when term/vote changed or entries are to be appended: the write must be fsynced. */
  readonly mustSync: boolean;
}

export type ProgressStateName = "probe" | "replicate" | "snapshot";

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressStateName;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
  readonly inflight: number;
  readonly pendingSnapshot: number;
}

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lead: NodeId;
  readonly state: StateType;
  readonly lastIndex: number;
  readonly confState: ConfState;
  /** Leader only: per-member replication progress. */
  readonly progress?: ReadonlyMap<NodeId, ProgressStatus>;
  /** Leader only: the target of an in-progress leadership transfer (NONE if none). */
  readonly leadTransferee: NodeId;
}
