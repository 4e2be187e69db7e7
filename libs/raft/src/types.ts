/**
 * Core data types of the Raft core, shared with hosts and storage.
 *
 * Modelled on etcd-io/raft's raftpb: plain data, no behaviour. Indices and terms are plain
 * numbers (safe integers up to 2^53, far beyond any realistic log).
 */

/** Identifier of a Raft member. 0 means "none". */
export type NodeId = number;
export const NONE: NodeId = 0;

export enum EntryType {
  /** Application command (opaque bytes). An empty Normal entry is the leader's no-op. */
  Normal = 0,
  /** Membership change: data is an encoded ConfChange. */
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** State that must be durable before any message reflecting it is sent (paper Figure 2). */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

/** Cluster membership as of a point in the log. Learners receive the log but do not vote. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Voters of the outgoing configuration while a joint configuration is in effect. */
  readonly votersOutgoing: readonly NodeId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** Application state machine image as of metadata.index. */
  readonly data: Uint8Array;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });
export const EMPTY_CONF_STATE: ConfState = Object.freeze({
  voters: [],
  learners: [],
  votersOutgoing: [],
});
