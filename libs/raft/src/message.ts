import type { Entry, NodeId, Snapshot } from "./types.js";

/**
 * Message kinds, as in etcd-io/raft's raftpb.MessageType. Hosts route messages only by
 * `to`/`from` and never need to look inside; the local-only kinds (Hup, Beat, Prop from the
 * host itself, TransferLeader, SnapStatus, Unreachable, CheckQuorum) never appear in a Ready.
 */
export enum MessageType {
  /** Local: start an election (pre-vote first when enabled). */
  Hup = 0,
  /** Local: the leader should broadcast heartbeats. */
  Beat = 1,
  /** A proposal; forwarded from follower to leader when the leader is known. */
  Prop = 2,
  App = 3,
  AppResp = 4,
  Vote = 5,
  VoteResp = 6,
  PreVote = 7,
  PreVoteResp = 8,
  /** One chunk of an InstallSnapshot transfer (see `snapshotChunk`). */
  Snap = 9,
  /** Follower's acknowledgement of snapshot chunks (index = snapshot index, rejectHint = bytes received). */
  SnapResp = 10,
  Heartbeat = 11,
  HeartbeatResp = 12,
  /** Leader → transfer target: campaign now, bypassing the election timeout and leases. */
  TimeoutNow = 13,
  /** A linearizable-read request; forwarded from follower to leader. */
  ReadIndex = 14,
  ReadIndexResp = 15,
  /** Ask the leader to transfer leadership to `from`; may be forwarded to the leader. */
  TransferLeader = 16,
  /** Local: the host reports the outcome of a snapshot transfer (reject = failed). */
  SnapStatus = 17,
  /** Local: the host reports that `from` was unreachable. */
  Unreachable = 18,
  /** Local: the leader checks that a quorum was active during the last election timeout. */
  CheckQuorum = 19,
}

/** A chunk of an InstallSnapshot transfer: bytes [offset, offset+data.length) of `total`. */
export interface SnapshotChunk {
  offset: number;
  data: Uint8Array;
  done: boolean;
  total: number;
}

/**
 * A Raft message. Plain data (numbers, booleans, byte arrays) so a network host can serialize
 * it field by field. Fields that a kind does not use are 0 / false / [].
 *
 * Field use per kind (as in etcd):
 * - App: index/logTerm = the entry preceding `entries`; commit = leader commit.
 * - AppResp: index = last matching index (or the rejected index); reject + rejectHint/logTerm
 *   carry the follower's conflict hint for fast backtracking.
 * - Vote/PreVote: index/logTerm = candidate's last entry; `transfer` marks a leadership transfer.
 * - Heartbeat: commit = min(leader commit, follower match); context = pending ReadIndex ctx.
 * - Snap: snapshot = metadata only (data is empty), snapshotChunk = the bytes.
 * - ReadIndex/ReadIndexResp: context = the request ctx; index = read index in the response.
 */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  snapshot?: Snapshot;
  snapshotChunk?: SnapshotChunk;
  context?: Uint8Array;
  /** Vote/PreVote sent because of a TimeoutNow: voters ignore their leader lease for it. */
  transfer?: boolean;
}

const NO_ENTRIES: Entry[] = [];

/** Builds a message with every unused field at its zero value. */
export function newMessage(
  type: MessageType,
  fields: Partial<Message> & { to?: number; from?: number } = {},
): Message {
  return {
    type,
    to: 0,
    from: 0,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: NO_ENTRIES,
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...fields,
  };
}

/** Messages that are only meaningful inside the node (never sent over a network). */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.Hup ||
    t === MessageType.Beat ||
    t === MessageType.SnapStatus ||
    t === MessageType.Unreachable ||
    t === MessageType.CheckQuorum
  );
}

/** Responses carry no request of their own; a stale-term response is simply ignored. */
export function isResponseMessage(t: MessageType): boolean {
  return (
    t === MessageType.AppResp ||
    t === MessageType.VoteResp ||
    t === MessageType.HeartbeatResp ||
    t === MessageType.PreVoteResp ||
    t === MessageType.SnapResp ||
    t === MessageType.ReadIndexResp ||
    t === MessageType.Unreachable
  );
}
