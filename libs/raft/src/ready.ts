import { type Message, MessageType } from "./message.js";
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

/** rd.messages split by when the host may send them; see splitLeaderMessages. */
export interface MessageSplit {
  /** May go out before the Ready's write is durable (the leader's appends and heartbeats). */
  readonly beforePersist: Message[];
  /** Only once the write is durable (step 2 of the host contract). */
  readonly afterPersist: Message[];
}

/**
 * The leader may replicate its log in parallel with writing it (Raft thesis §10.2.1): its
 * appends and heartbeats claim nothing about its own disk, so they can leave before its fsync,
 * and the fsync then overlaps the round trip to the followers instead of preceding it.
 *
 * Safe only for a host that handles Readies strictly one at a time (write, send, apply, advance,
 * then the next ready()). The leader counts itself towards the quorum from the moment it appends,
 * so a follower's acknowledgement can advance the commit index in memory before the leader's own
 * write is durable; but the commit only becomes visible (applied, answered, sent to followers) in
 * a later Ready, which such a host takes only after this write has finished. An entry is never
 * committed by acknowledgements of entries that were not yet sent, so no Ready's commit index
 * covers its own entries (a one-voter cluster commits on append; it has no one to send to).
 *
 * Everything else waits for the write: a vote or an append acknowledgement sent early could
 * be forgotten by a crash and break safety, and a Ready that changes the term (or installs a
 * snapshot) is not a steady leader's Ready.
 *
 * `state` is the node's role when ready() was called (rd.softState when present, else the last
 * one seen); `persistedTerm` the term of the last hard state the host made durable.
 */
export function splitLeaderMessages(
  rd: Ready,
  state: StateType,
  persistedTerm: number,
): MessageSplit {
  const steadyLeader =
    state === StateType.Leader &&
    rd.snapshot === undefined &&
    (rd.hardState === undefined || rd.hardState.term === persistedTerm);
  if (!steadyLeader) return { beforePersist: [], afterPersist: rd.messages };
  const beforePersist: Message[] = [];
  const afterPersist: Message[] = [];
  for (const m of rd.messages) {
    const replication = m.type === MessageType.App || m.type === MessageType.Heartbeat;
    (replication && m.term === persistedTerm ? beforePersist : afterPersist).push(m);
  }
  return { beforePersist, afterPersist };
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
