import { type ConfChange, encodeConfChange } from "./conf-change.js";
import type { RaftConfig } from "./config.js";
import { RaftArgumentError } from "./errors.js";
import { isLocalMessage, type Message, MessageType, newMessage } from "./message.js";
import { Raft } from "./raft.js";
import {
  type ProgressStatus,
  type Ready,
  type SoftState,
  StateType,
  type Status,
} from "./ready.js";
import type { RaftStorage } from "./storage.js";
import { type ConfState, type Entry, EntryType, type HardState, type NodeId } from "./types.js";

/**
 * The host's handle on one Raft node (etcd-io/raft's RawNode). Single-threaded and synchronous:
 * the host calls tick/step/propose, then drains work with ready()/advance().
 *
 * HOST CONTRACT — for every Ready `rd` the host must, in this order:
 *   1. Persist rd.snapshot (if any), append rd.entries, and store rd.hardState (if any) to stable
 *      storage — the same storage the node reads through RaftStorage. When rd.mustSync is true
 *      the write must be fsynced before step 2.
 *   2. Send rd.messages. Never before step 1: a vote or an append acknowledgement sent before the
 *      state it reflects is durable can make a crashed-and-restarted node break safety. (One
 *      exception: a steady leader's appends and heartbeats may go out before step 1 when the
 *      host takes Readies strictly one at a time; splitLeaderMessages in ready.ts says which.)
 *   3. Apply rd.snapshot (if any) to the state machine, then rd.committedEntries in order. For an
 *      entry of type EntryType.ConfChange, decode it (decodeConfChange) and call
 *      applyConfChange(cc). rd.readStates may be served once the applied index reaches their index.
 *   4. Call advance(rd). Call ready() again only after advance().
 *
 * STARTING A FRESH CLUSTER with voters [1,2,3] — either way, the log then begins with one
 * committed conf-change entry per initial member (indices 1..n, term 1), which the host persists
 * and applies from the first Ready like any other entries:
 *   a) on each initial member, over an empty storage: `new RawNode(cfg, storage)` then
 *      `node.bootstrap([1, 2, 3])` (etcd's Bootstrap); or
 *   b) give each initial member a fresh storage whose initialState() reports confState
 *      {voters:[1,2,3]} with an empty log and zero hard state (e.g. `new MemoryStorage(conf)`);
 *      the core then writes those same entries itself at construction.
 * A node added later starts with an EMPTY storage and configuration (no bootstrap): it learns
 * the configuration by replaying the leader's log (or from its snapshot), so it can never
 * mistake itself for a one-node cluster.
 *
 * RESTART: build a RawNode over the recovered storage. initialState().confState must be the
 * configuration as of `config.applied` (default: the snapshot's); committed entries after it are
 * handed out again in committedEntries for the host to re-apply (including conf changes).
 */
export class RawNode {
  private readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | undefined;

  constructor(config: RaftConfig, storage: RaftStorage) {
    this.raft = new Raft(config, storage);
    this.prevSoft = { lead: this.raft.lead, state: this.raft.state };
    this.prevHard = storage.initialState().hardState;
  }

  /**
   * Starts a brand-new cluster (see the class comment). Call once per initial member, on an
   * empty storage, with the same voter list everywhere.
   */
  bootstrap(voters: readonly NodeId[]): void {
    this.raft.bootstrap(voters);
  }

  /** Advances logical time by one tick (election and heartbeat timeouts are counted in ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.raft.step(newMessage(MessageType.Hup, { from: this.raft.id }));
  }

  /**
   * Proposes an application command. Throws ProposalDroppedError if it cannot be accepted here;
   * on a follower the proposal is forwarded to the leader (no completion signal: the host learns
   * of it when it is committed, and retries with a client session to stay exactly-once).
   */
  propose(data: Uint8Array): void {
    this.proposeEntry(EntryType.Normal, data);
  }

  /**
   * Proposes a membership change; at most one may be pending (proposed and not yet applied).
   * Throws ProposalDroppedError otherwise or if the change is invalid (e.g. removing the last voter).
   */
  proposeConfChange(cc: ConfChange): void {
    if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) {
      throw new RaftArgumentError("nodeId", `must be a positive integer, got ${String(cc.nodeId)}`);
    }
    this.proposeEntry(EntryType.ConfChange, encodeConfChange(cc));
  }

  private proposeEntry(type: EntryType, data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new RaftArgumentError("data", "must be a Uint8Array");
    const e: Entry = { term: 0, index: 0, type, data };
    this.raft.step(newMessage(MessageType.Prop, { from: this.raft.id, entries: [e] }));
  }

  /**
   * Applies a committed conf change to this node's configuration (call it while applying the
   * entry) and returns the new configuration, which the host should record with its next
   * snapshot. An invalid change (e.g. would remove the last voter) is a no-op on every node.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Requests a linearizable read. When it is safe to read at some index, a ReadState with this
   * ctx appears in a later Ready; serve the read once that index is applied. ctx must be
   * non-empty and unique among pending reads. Throws ProposalDroppedError when no leader is known.
   */
  readIndex(ctx: Uint8Array): void {
    if (!(ctx instanceof Uint8Array) || ctx.length === 0) {
      throw new RaftArgumentError("ctx", "must be a non-empty Uint8Array");
    }
    this.raft.step(newMessage(MessageType.ReadIndex, { from: this.raft.id, context: ctx }));
  }

  /** Asks the leader to hand leadership to `to` (which should be an up-to-date voter). */
  transferLeadership(to: NodeId): void {
    if (!Number.isSafeInteger(to) || to <= 0) {
      throw new RaftArgumentError("to", `must be a positive node id, got ${String(to)}`);
    }
    this.raft.step(newMessage(MessageType.TransferLeader, { from: to, to: this.raft.id }));
  }

  /**
   * Delivers a message received from a peer. Local-only kinds and messages from unknown peers
   * responses are rejected/ignored as in etcd; a message not addressed to us is a host bug.
   */
  step(m: Message): void {
    validateMessage(m);
    if (isLocalMessage(m.type)) {
      throw new RaftArgumentError(
        "type",
        `${MessageType[m.type]} is local-only and cannot be stepped`,
      );
    }
    if (m.to !== this.raft.id) {
      throw new RaftArgumentError("to", `message for ${m.to} delivered to ${this.raft.id}`);
    }
    const isResp =
      m.type === MessageType.AppResp ||
      m.type === MessageType.HeartbeatResp ||
      m.type === MessageType.SnapResp;
    // Responses from nodes that are not members (e.g. just removed) carry nothing useful.
    if (isResp && !this.raft.trk.progress.has(m.from)) return;
    this.raft.step(m);
  }

  /** Tells the leader that the last message to `id` could not be delivered. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage(MessageType.Unreachable, { from: id }));
  }

  /**
   * Tells the leader the outcome of a snapshot transfer to `id` as seen by the transport.
   * Optional with chunked transfers (the core detects stalls itself), but it speeds recovery.
   */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(newMessage(MessageType.SnapStatus, { from: id, reject: !ok }));
  }

  hasReady(): boolean {
    const r = this.raft;
    if (r.appendsPending) return true;
    if (r.lead !== this.prevSoft.lead || r.state !== this.prevSoft.state) return true;
    const hs = this.prevHard;
    if (r.term !== hs.term || r.vote !== hs.vote || r.raftLog.committed !== hs.commit) return true;
    if (r.raftLog.unstable.snapshot) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.raftLog.unstable.entries.length > 0) return true;
    return r.raftLog.hasNextCommittedEntries();
  }

  /** The next batch of work; see the host contract above. */
  ready(): Ready {
    if (this.outstanding) {
      throw new RaftArgumentError(
        "ready",
        "the previous Ready was not advanced; call advance(rd) first",
      );
    }
    const r = this.raft;
    r.flushAppends();
    const log = r.raftLog;
    const entries = log.unstableEntries();
    const committedEntries = log.nextCommittedEntries();
    const hs = r.hardState();
    const hardChanged =
      hs.term !== this.prevHard.term ||
      hs.vote !== this.prevHard.vote ||
      hs.commit !== this.prevHard.commit;
    const softChanged = r.lead !== this.prevSoft.lead || r.state !== this.prevSoft.state;
    const rd: Ready = {
      ...(softChanged ? { softState: { lead: r.lead, state: r.state } } : {}),
      ...(hardChanged ? { hardState: hs } : {}),
      ...(log.unstable.snapshot ? { snapshot: log.unstable.snapshot } : {}),
      entries,
      committedEntries,
      messages: r.msgs,
      readStates: r.readStates,
      mustSync:
        entries.length > 0 || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (committedEntries.length > 0)
      log.applying = committedEntries[committedEntries.length - 1]!.index;
    this.outstanding = rd;
    return rd;
  }

  /** Confirms that the host persisted and applied everything in rd. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) {
      throw new RaftArgumentError(
        "rd",
        "advance() must be given the Ready returned by the last ready()",
      );
    }
    this.outstanding = undefined;
    const r = this.raft;
    const log = r.raftLog;
    if (rd.snapshot) {
      log.stableSnapTo(rd.snapshot.metadata.index);
      if (log.applied < rd.snapshot.metadata.index) {
        log.applied = rd.snapshot.metadata.index;
        if (log.applying < log.applied) log.applying = log.applied;
      }
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
      r.reduceUncommittedSize(rd.committedEntries);
    }
  }

  status(): Status {
    const r = this.raft;
    let progress: Map<NodeId, ProgressStatus> | undefined;
    if (r.state === StateType.Leader) {
      progress = new Map();
      for (const [id, pr] of r.trk.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.stateName(),
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          inflight: pr.inflights.count,
          pendingSnapshot: pr.pendingSnapshot,
        });
      }
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.raftLog.committed,
      applied: r.raftLog.applied,
      lead: r.lead,
      state: r.state,
      lastIndex: r.raftLog.lastIndex(),
      confState: r.trk.confState(),
      ...(progress ? { progress } : {}),
      leadTransferee: r.leadTransferee,
    };
  }
}

const isIndex = (v: unknown): boolean => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * Cheap structural checks on a message from the network, so a malformed peer message is a typed
 * error naming the field instead of a crash deep inside the state machine. O(1) per message plus
 * one check per entry.
 */
function validateMessage(m: Message): void {
  if (m === null || typeof m !== "object")
    throw new RaftArgumentError("message", "must be an object");
  if (typeof m.type !== "number" || MessageType[m.type] === undefined) {
    throw new RaftArgumentError("type", `unknown message type ${String(m.type)}`);
  }
  for (const f of ["to", "from", "term", "logTerm", "index", "commit", "rejectHint"] as const) {
    if (!isIndex(m[f]))
      throw new RaftArgumentError(f, `must be a non-negative integer, got ${String(m[f])}`);
  }
  if (typeof m.reject !== "boolean") throw new RaftArgumentError("reject", "must be a boolean");
  if (!Array.isArray(m.entries)) throw new RaftArgumentError("entries", "must be an array");
  for (const e of m.entries) {
    if (
      e === null ||
      typeof e !== "object" ||
      !(e.data instanceof Uint8Array) ||
      !isIndex(e.index) ||
      !isIndex(e.term)
    ) {
      throw new RaftArgumentError(
        "entries",
        "each entry needs integer index/term and Uint8Array data",
      );
    }
  }
  if (m.type === MessageType.Snap) {
    const c = m.snapshotChunk;
    if (
      !m.snapshot ||
      !c ||
      !(c.data instanceof Uint8Array) ||
      !isIndex(c.offset) ||
      !isIndex(c.total)
    ) {
      throw new RaftArgumentError(
        "snapshotChunk",
        "a Snap message needs snapshot metadata and a chunk",
      );
    }
  }
  if (m.context !== undefined && !(m.context instanceof Uint8Array)) {
    throw new RaftArgumentError("context", "must be a Uint8Array");
  }
}
