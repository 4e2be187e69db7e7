import {
  applyConfChangeToState,
  type ConfChange,
  ConfChangeType,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
} from "./conf-change.js";
import { type RaftConfig, type ResolvedRaftConfig, resolveConfig } from "./config.js";
import {
  ProposalDroppedError,
  RaftArgumentError,
  RaftConfigError,
  RaftInvariantError,
} from "./errors.js";
import { type Message, MessageType, newMessage } from "./message.js";
import { type Progress, ProgressState } from "./progress.js";
import { VoteResult } from "./quorum.js";
import { RaftLog } from "./raft-log.js";
import { ReadOnly } from "./read-only.js";
import { type ReadState, StateType } from "./ready.js";
import {
  CompactedError,
  type RaftStorage,
  SnapshotTemporarilyUnavailableError,
} from "./storage.js";
import { ProgressTracker } from "./tracker.js";
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  NONE,
  type NodeId,
  type Snapshot,
} from "./types.js";
import { payloadSize } from "./util.js";

const EMPTY = new Uint8Array(0);

type CampaignType = "pre-election" | "election" | "transfer";

/** Follower-side reassembly of a chunked snapshot. */
interface SnapshotAssembly {
  readonly from: NodeId;
  readonly term: number;
  readonly metadataIndex: number;
  readonly metadataTerm: number;
  readonly buf: Uint8Array;
  received: number;
  /** `received` when we last asked for a retransmission (ask once per gap). */
  nackedAt: number;
}

/**
 * The Raft state machine (etcd-io/raft's raft.go). Everything is driven by step(m) and tick();
 * outputs accumulate in `msgs` and `readStates` and the log's unstable part, which RawNode hands
 * to the host as a Ready. Internal: hosts use RawNode.
 */
export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedRaftConfig;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  state = StateType.Follower;
  isLearner = false;
  readonly raftLog: RaftLog;
  trk: ProgressTracker;
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /** Leader: target of an in-progress leadership transfer. */
  leadTransferee: NodeId = NONE;
  /** Leader: index of the last conf change proposed; another waits until it is applied. */
  pendingConfIndex = 0;
  /** Leader: bytes of entries proposed and not yet applied (for maxUncommittedEntriesSize). */
  uncommittedSize = 0;
  readOnly: ReadOnly;
  /** Leader: ReadIndex requests waiting for the first commit of this term. */
  private pendingReadIndexMessages: Message[] = [];
  electionElapsed = 0;
  /** Leader: a broadcast of appends is owed (see flushAppends). */
  appendsPending = false;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private assembly: SnapshotAssembly | undefined;
  /** Last index of the bootstrap entries written by this instance (already in effect). */
  private bootstrapIndex = 0;

  constructor(config: RaftConfig, storage: RaftStorage) {
    this.cfg = resolveConfig(config);
    this.id = this.cfg.id;
    this.raftLog = new RaftLog(storage, this.cfg.maxCommittedSizePerReady);
    const { hardState, confState } = storage.initialState();
    this.trk = new ProgressTracker(this.cfg.maxInflightMsgs);
    this.readOnly = new ReadOnly(this.cfg.readOnlyOption);
    const emptyHardState =
      hardState.term === 0 && hardState.vote === NONE && hardState.commit === 0;
    const hasConf =
      confState.voters.length + confState.learners.length + confState.votersOutgoing.length > 0;
    if (emptyHardState && hasConf && storage.firstIndex() === 1 && storage.lastIndex() === 0) {
      // A fresh node whose storage carries the initial configuration outside the log. Write that
      // configuration into the log (as bootstrap() does) so that members added later, which
      // start empty and replay the log, learn it too instead of seeing only their own addition.
      if (confState.votersOutgoing.length > 0) {
        throw new RaftInvariantError("cannot start a fresh node in a joint configuration");
      }
      this.writeBootstrapEntries([
        ...confState.voters.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId })),
        ...confState.learners.map((nodeId) => ({ type: ConfChangeType.AddLearner, nodeId })),
      ]);
    } else {
      this.trk.applyConfState(confState, this.raftLog.lastIndex() + 1);
      this.isLearner = this.trk.learners.has(this.id);
      if (!emptyHardState) this.loadState(hardState);
    }
    if (this.cfg.applied > 0) {
      if (this.cfg.applied > this.raftLog.committed) {
        throw new RaftConfigError(
          "applied",
          `${this.cfg.applied} is beyond the persisted commit index ${this.raftLog.committed}`,
        );
      }
      if (this.cfg.applied > this.raftLog.applied) this.raftLog.appliedTo(this.cfg.applied);
    }
    this.becomeFollower(this.term, NONE);
  }

  private loadState(hs: HardState): void {
    if (hs.commit > this.raftLog.lastIndex()) {
      throw new RaftInvariantError(
        `persisted commit ${hs.commit} is beyond the last persisted index ${this.raftLog.lastIndex()}`,
      );
    }
    // A persisted snapshot holds only committed state, so its index is committed even when the
    // host crashed between writing the snapshot and writing the hard state that says so.
    if (hs.commit > this.raftLog.committed) this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** Whether this node may become leader: a voter of the current configuration. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.unstable.snapshot;
  }

  // ---------------------------------------------------------------- sending

  private send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    if (
      m.type === MessageType.Vote ||
      m.type === MessageType.VoteResp ||
      m.type === MessageType.PreVote ||
      m.type === MessageType.PreVoteResp
    ) {
      // Vote messages carry the term of the election, set by the caller.
      if (m.term === 0) throw new RaftInvariantError(`term not set on ${MessageType[m.type]}`);
    } else {
      if (m.term !== 0) throw new RaftInvariantError(`term set on ${MessageType[m.type]}`);
      // Proposals and forwarded reads carry no term: they are meaningful in any term.
      if (
        m.type !== MessageType.Prop &&
        m.type !== MessageType.ReadIndex &&
        m.type !== MessageType.TransferLeader
      ) {
        m.term = this.term;
      }
    }
    this.msgs.push(m);
  }

  /** Sends an append (or starts a snapshot) to `to` if its progress allows. */
  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends one append carrying entries from pr.next, or an empty one when sendIfEmpty (used to
   * carry the commit index / probe). Returns whether a message was sent.
   */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.term(prevIndex);
    let ents: Entry[] | undefined;
    if (prevTerm !== undefined) {
      try {
        ents = this.raftLog.entriesFrom(pr.next, this.cfg.maxSizePerMsg);
      } catch (e) {
        if (!(e instanceof CompactedError)) throw e;
      }
    }
    if (prevTerm === undefined || ents === undefined) return this.maybeSendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      newMessage(MessageType.App, {
        to,
        index: prevIndex,
        logTerm: prevTerm,
        entries: ents,
        commit: this.raftLog.committed,
      }),
    );
    pr.sentEntries(ents.length, ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex);
    return true;
  }

  /** Starts a chunked InstallSnapshot transfer to a follower that needs compacted entries. */
  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // An inactive follower would just let the transfer stall; wait until it is heard from.
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.raftLog.snapshot();
    } catch (e) {
      if (e instanceof SnapshotTemporarilyUnavailableError) return false;
      throw e;
    }
    if (snap.metadata.index === 0) {
      throw new RaftInvariantError(
        `follower ${to} needs a snapshot but the storage snapshot is empty`,
      );
    }
    pr.becomeSnapshot(snap);
    this.sendSnapshotChunks(to, pr);
    return true;
  }

  /** Sends snapshot chunks while the transfer's window (maxInflightMsgs chunks) has room. */
  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    const t = pr.snapshotTransfer;
    if (!t) return;
    const data = t.snapshot.data;
    const total = data.byteLength;
    const chunk = this.cfg.snapshotChunkSize;
    const window = chunk * this.cfg.maxInflightMsgs;
    const metadataOnly: Snapshot = { metadata: t.snapshot.metadata, data: EMPTY };
    while (!t.sentDone && t.nextOffset - t.ackedOffset < window) {
      const len = Math.min(chunk, total - t.nextOffset);
      const done = t.nextOffset + len === total;
      this.send(
        newMessage(MessageType.Snap, {
          to,
          snapshot: metadataOnly,
          snapshotChunk: {
            offset: t.nextOffset,
            data: data.subarray(t.nextOffset, t.nextOffset + len),
            done,
            total,
          },
        }),
      );
      t.nextOffset += len;
      if (done) t.sentDone = true;
    }
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array | undefined): void {
    const pr = this.trk.progress.get(to)!;
    // Never tell a follower to commit beyond what it is known to hold.
    const commit = Math.min(pr.match, this.raftLog.committed);
    const m = newMessage(MessageType.Heartbeat, { to, commit });
    if (ctx) m.context = ctx;
    this.send(m);
  }

  /**
   * Sends the appends deferred since the last Ready (new proposals, a new commit index) — one
   * message per follower however many proposals or acknowledgements came in between. RawNode
   * calls this when building a Ready, so the deferral never delays a message past the Ready that
   * would have carried it.
   */
  flushAppends(): void {
    if (!this.appendsPending) return;
    this.appendsPending = false;
    if (this.state === StateType.Leader) this.bcastAppend();
  }

  bcastAppend(): void {
    for (const id of this.trk.progress.keys()) {
      if (id !== this.id) this.sendAppend(id);
    }
  }

  private bcastHeartbeat(ctx?: Uint8Array): void {
    const c = ctx ?? this.readOnly.lastPendingRequestCtx();
    for (const id of this.trk.progress.keys()) {
      if (id !== this.id) this.sendHeartbeat(id, c);
    }
  }

  // ---------------------------------------------------------------- state transitions

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      const learner = pr.isLearner;
      pr.becomeProbe();
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.isLearner = learner;
      pr.recentActive = false;
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.cfg.readOnlyOption);
    this.pendingReadIndexMessages = [];
  }

  private resetRandomizedElectionTimeout(): void {
    const r = this.cfg.random();
    if (!(r >= 0 && r < 1))
      throw new RaftInvariantError(`config.random returned ${r}, not in [0, 1)`);
    const et = this.cfg.electionTick;
    this.randomizedElectionTimeout = et + Math.floor(r * et);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
  }

  private becomeCandidate(): void {
    if (this.state === StateType.Leader)
      throw new RaftInvariantError("leader cannot become candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
  }

  private becomePreCandidate(): void {
    if (this.state === StateType.Leader)
      throw new RaftInvariantError("leader cannot become pre-candidate");
    // Pre-vote changes neither term nor vote: a partitioned node cannot disrupt the cluster.
    this.trk.resetVotes();
    this.lead = NONE;
    this.state = StateType.PreCandidate;
  }

  private becomeLeader(): void {
    if (this.state === StateType.Follower)
      throw new RaftInvariantError("follower cannot become leader");
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const self = this.trk.progress.get(this.id)!;
    self.becomeReplicate();
    self.recentActive = true;
    // Conservatively assume the tail of the log may hold an unapplied conf change.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // The no-op of the new term: committing it commits every earlier entry (§5.4.2) and
    // enables ReadIndex.
    if (!this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY }])) {
      throw new RaftInvariantError("empty entry was dropped");
    }
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    if (this.state === StateType.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  private pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage(MessageType.Hup, { from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(newMessage(MessageType.CheckQuorum, { from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== NONE)
        this.abortLeaderTransfer();
    }
    if (this.state !== StateType.Leader) return;
    for (const [id, pr] of this.trk.progress) {
      const t = pr.snapshotTransfer;
      if (pr.state !== ProgressState.Snapshot || !t) continue;
      // No acknowledgement for an election timeout: chunks were lost; resend from the last ack.
      if (++t.idleTicks >= this.cfg.electionTick) {
        t.idleTicks = 0;
        t.nextOffset = t.ackedOffset;
        t.sentDone = false;
        this.sendSnapshotChunks(id, pr);
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.step(newMessage(MessageType.Beat, { from: this.id }));
    }
  }

  // ---------------------------------------------------------------- elections

  private hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(t);
  }

  /** A committed-but-unapplied conf change may remove us; campaigning before applying it is unsafe. */
  private hasUnappliedConfChanges(): boolean {
    const log = this.raftLog;
    // Bootstrap entries are in effect from the start; only later changes need applying first.
    const from = Math.max(log.applied, this.bootstrapIndex);
    if (from >= log.committed) return false;
    let lo = Math.max(from + 1, log.firstIndex());
    const hi = log.committed + 1;
    while (lo < hi) {
      const ents = log.slice(lo, hi, 8 * 1024 * 1024);
      for (const e of ents) if (e.type === EntryType.ConfChange) return true;
      lo += ents.length;
    }
    return false;
  }

  private campaign(t: CampaignType): void {
    let voteMsg: MessageType;
    let term: number;
    if (t === "pre-election") {
      this.becomePreCandidate();
      voteMsg = MessageType.PreVote;
      term = this.term + 1; // the term we would campaign in
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.Vote;
      term = this.term;
    }
    const respType =
      voteMsg === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
    if (this.poll(this.id, respType, true) === VoteResult.Won) {
      // A single-voter cluster wins at once.
      if (t === "pre-election") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voters.ids()) {
      if (id === this.id) continue;
      const m = newMessage(voteMsg, { to: id, term, index: lastIndex, logTerm: lastTerm });
      if (t === "transfer") m.transfer = true;
      this.send(m);
    }
  }

  private poll(id: NodeId, _t: MessageType, granted: boolean): VoteResult {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Leader lease (§4.2.3 / check-quorum): while we hear from a leader, ignore vote requests
        // from a higher term, so a node that was partitioned away cannot depose a healthy leader.
        // A leadership transfer explicitly overrides the lease.
        const inLease =
          this.cfg.checkQuorum &&
          this.lead !== NONE &&
          this.electionElapsed < this.cfg.electionTick;
        if (!m.transfer && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote request never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // Granted pre-votes carry the future term; the term changes only if we win.
      } else if (
        m.type === MessageType.App ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.App)
      ) {
        // A stale leader (e.g. after a partition healed) learns the new term from this answer and
        // steps down; without it, pre-vote/check-quorum could leave it unaware forever.
        this.send(newMessage(MessageType.AppResp, { to: m.from }));
      } else if (m.type === MessageType.PreVote || m.type === MessageType.Vote) {
        // Figure 2: reply false if term < currentTerm; the stale candidate learns the new term.
        const respType =
          m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        this.send(newMessage(respType, { to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.cfg.preVote ? "pre-election" : "election");
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        const respType =
          m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // Granted answers carry the request's term (for pre-vote, the future term).
          this.send(newMessage(respType, { to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(newMessage(respType, { to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        break;
    }
    switch (this.state) {
      case StateType.Leader:
        this.stepLeader(m);
        return;
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.stepCandidate(m);
        return;
      case StateType.Follower:
        this.stepFollower(m);
        return;
    }
  }

  private dropProposal(m: Message, reason: string): void {
    // Only the local host can be told; a forwarded proposal is dropped silently (the
    // forwarding host retries through its own client timeout).
    if (m.from === this.id || m.from === NONE) throw new ProposalDroppedError(reason);
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        if (!this.trk.quorumActive(this.id)) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.Prop:
        this.leaderPropose(m);
        return;
      case MessageType.ReadIndex:
        if (this.trk.isSingleton()) {
          this.respondToReadIndex(m, this.raftLog.committed);
          return;
        }
        // Until an entry of this term commits, our commit index may be behind the previous
        // leader's; a read at it could miss acknowledged writes (§6.4 step 1).
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.sendReadIndexResponse(m);
        return;
      default:
        break;
    }
    const pr = this.trk.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.HeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.SnapResp:
        this.handleSnapshotResponse(m, pr);
        return;
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        // Success or failure, wait for the follower's answer (or the next heartbeat response)
        // before probing again; on failure the next probe starts a fresh transfer.
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        pr.msgAppFlowPaused = true;
        return;
      case MessageType.Unreachable:
        // Optimistic pipelining to an unreachable node is wasted; fall back to probing.
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m, pr);
        return;
      default:
        return;
    }
  }

  private leaderPropose(m: Message): void {
    if (m.entries.length === 0) throw new RaftInvariantError("proposal without entries");
    if (!this.trk.progress.has(this.id)) {
      this.dropProposal(m, "this node was removed from the configuration");
      return;
    }
    if (this.leadTransferee !== NONE) {
      this.dropProposal(m, `leadership transfer to ${this.leadTransferee} in progress`);
      return;
    }
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      if (e.type !== EntryType.ConfChange) continue;
      if (this.pendingConfIndex > this.raftLog.applied) {
        this.dropProposal(m, `conf change at index ${this.pendingConfIndex} is not yet applied`);
        return;
      }
      const problem = confChangeProblem(this.trk.confState(), decodeConfChange(e.data));
      if (problem) {
        this.dropProposal(m, problem);
        return;
      }
      this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
    }
    if (!this.appendEntry(m.entries)) {
      this.dropProposal(m, "too many uncommitted entry bytes (maxUncommittedEntriesSize)");
      return;
    }
    // Broadcast lazily: every proposal stepped before the next Ready shares one append per
    // follower instead of one append per proposal.
    this.appendsPending = true;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      // Fast backtracking: the follower's hint (rejectHint, logTerm) lets us skip every entry of
      // our log with a term greater than the follower's term at the hint.
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0)
        nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (m.rejectHint < pr.match && pr.state !== ProgressState.Snapshot) {
        // The follower no longer holds entries it acknowledged to us in this term. Replies on a
        // link arrive in order, so this is not a reordered old rejection: its storage was lost
        // (a wiped data dir rejoining). Forget its match and probe from what it has; otherwise
        // every append would be refused as stale and, while the log still reaches back that far
        // (no snapshot to send instead), it would never catch up. Our commit index stays put. A
        // snapshot transfer in progress has its own restart path (the follower reports offsets).
        pr.forgetMatch(m.rejectHint);
        this.sendAppend(m.from);
        return;
      }
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (pr.state === ProgressState.Snapshot && m.index >= pr.pendingSnapshot) {
        // The follower already holds everything this transfer covers, yet we still cannot
        // append to it: we compacted past it meanwhile. Abandon the transfer and probe again
        // (which starts a new transfer of the newest snapshot).
        pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Snapshot) {
      if (pr.match + 1 >= this.raftLog.firstIndex()) {
        // The follower caught up (installed the snapshot or found the entries some other way).
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.match >= pr.pendingSnapshot) {
        // Installed, but we compacted past it meanwhile: probe, which sends a newer snapshot.
        pr.becomeProbe();
      }
    } else if (pr.state === ProgressState.Replicate) {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages();
      // Followers learn the new commit index with the next Ready's appends (coalesced).
      this.appendsPending = true;
    } else if (oldPaused) {
      this.sendAppend(m.from);
    }
    // Fill the freed window with any further entries.
    while (this.maybeSendAppend(m.from, false)) {
      /* keep sending */
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // Acknowledgements may have been lost; free one slot so a full window cannot stall forever.
    if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.raftLog.lastIndex() || pr.state === ProgressState.Probe)
      this.sendAppend(m.from);
    if (this.cfg.readOnlyOption !== "safe" || !m.context || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (!acks) return;
    acks.set(this.id, true);
    if (this.trk.voters.voteResult(acks) !== VoteResult.Won) return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req, rs.index);
  }

  private handleSnapshotResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    const t = pr.snapshotTransfer;
    if (pr.state !== ProgressState.Snapshot || !t || m.index !== pr.pendingSnapshot) return;
    t.idleTicks = 0;
    if (m.reject) {
      // The follower is missing bytes before the chunk it got (loss or reordering, or it
      // restarted): go back to what it has.
      t.ackedOffset = Math.min(m.rejectHint, t.snapshot.data.byteLength);
      t.nextOffset = t.ackedOffset;
      t.sentDone = false;
    } else if (m.rejectHint > t.ackedOffset) {
      t.ackedOffset = Math.min(m.rejectHint, t.snapshot.data.byteLength);
      // The follower may be ahead of what we sent (it kept a partial transfer): skip ahead.
      if (t.nextOffset < t.ackedOffset) t.nextOffset = t.ackedOffset;
    }
    this.sendSnapshotChunks(m.from, pr);
  }

  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) return;
    const transferee = m.from;
    const last = this.leadTransferee;
    if (last !== NONE) {
      if (last === transferee) return; // already in progress
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    // The transfer must complete within one election timeout or it is abandoned (tickHeartbeat).
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage(MessageType.TimeoutNow, { to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  private stepCandidate(m: Message): void {
    const myVoteResp =
      this.state === StateType.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        this.dropProposal(m, "no leader (election in progress)");
        return;
      case MessageType.ReadIndex:
        this.dropProposal(m, "no leader (election in progress)");
        return;
      case MessageType.TransferLeader:
        this.dropProposal(m, "no leader (election in progress)");
        return;
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteResp: {
        const res = this.poll(m.from, m.type, !m.reject);
        if (res === VoteResult.Won) {
          if (this.state === StateType.PreCandidate) {
            this.campaign("election");
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === VoteResult.Lost) {
          // Pre-candidate or candidate: back to follower in our current term (a rejecting
          // higher term was already handled in step()).
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) {
          this.dropProposal(m, "no leader");
          return;
        }
        // Forward a copy: the host may still hold (or redeliver) the message it stepped.
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead === NONE) {
          this.dropProposal(m, "no leader to transfer leadership");
          return;
        }
        // Forward a copy: the host may still hold (or redeliver) the message it stepped.
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.TimeoutNow:
        // The leader asked us to take over: campaign now, skipping pre-vote; voters ignore their
        // lease for this election because the vote requests are marked as a transfer.
        this.hup("transfer");
        return;
      case MessageType.ReadIndex:
        if (this.lead === NONE) {
          this.dropProposal(m, "no leader to serve a read");
          return;
        }
        // Forward a copy: the host may still hold (or redeliver) the message it stepped.
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, ctx: m.context ?? EMPTY });
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower handlers

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      // Everything up to our commit index already matches; tell the leader where we are.
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: this.raftLog.committed }));
      return;
    }
    const last = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: last }));
      return;
    }
    // Rejection with a hint: the largest index <= m.index whose term is <= m.logTerm. The leader
    // can then skip all entries between that point and m.index in one round trip.
    const hintIndex = Math.min(m.index, this.raftLog.lastIndex());
    const hint = this.raftLog.findConflictByTerm(hintIndex, m.logTerm);
    this.send(
      newMessage(MessageType.AppResp, {
        to: m.from,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    const resp = newMessage(MessageType.HeartbeatResp, { to: m.from });
    if (m.context) resp.context = m.context;
    this.send(resp);
  }

  /** Assembles snapshot chunks in order; restores once the last chunk arrives. */
  private handleSnapshot(m: Message): void {
    const chunk = m.snapshotChunk;
    const meta = m.snapshot?.metadata;
    if (!chunk || !meta) return; // malformed; the leader will retransmit after a stall
    if (meta.index <= this.raftLog.committed) {
      // We already have everything the snapshot covers.
      this.assembly = undefined;
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: this.raftLog.committed }));
      return;
    }
    const nack = (have: number) =>
      this.send(
        newMessage(MessageType.SnapResp, {
          to: m.from,
          index: meta.index,
          reject: true,
          rejectHint: have,
        }),
      );
    if (
      !Number.isSafeInteger(chunk.total) ||
      chunk.total < 0 ||
      chunk.offset + chunk.data.byteLength > chunk.total
    ) {
      return;
    }
    let a = this.assembly;
    const sameTransfer =
      a !== undefined &&
      a.from === m.from &&
      a.term === m.term &&
      a.metadataIndex === meta.index &&
      a.metadataTerm === meta.term &&
      a.buf.byteLength === chunk.total;
    if (chunk.offset === 0 && !sameTransfer) {
      a = {
        from: m.from,
        term: m.term,
        metadataIndex: meta.index,
        metadataTerm: meta.term,
        buf: new Uint8Array(chunk.total),
        received: 0,
        nackedAt: -1,
      };
      this.assembly = a;
    } else if (!sameTransfer || !a) {
      nack(0);
      return;
    }
    if (chunk.offset !== a.received) {
      if (chunk.offset < a.received) {
        // A duplicate, or the leader restarted the transfer: tell it how far we already are.
        this.send(
          newMessage(MessageType.SnapResp, {
            to: m.from,
            index: meta.index,
            rejectHint: a.received,
          }),
        );
      } else if (a.nackedAt !== a.received) {
        // A gap (lost or reordered chunk): ask once for what comes next; the leader's stall
        // timer covers the loss of the retransmission too.
        a.nackedAt = a.received;
        nack(a.received);
      }
      return;
    }
    a.buf.set(chunk.data, a.received);
    a.received += chunk.data.byteLength;
    if (!chunk.done) {
      this.send(
        newMessage(MessageType.SnapResp, { to: m.from, index: meta.index, rejectHint: a.received }),
      );
      return;
    }
    this.assembly = undefined;
    if (a.received !== chunk.total) {
      nack(0);
      return;
    }
    const snap: Snapshot = { metadata: meta, data: a.buf };
    if (this.restore(snap)) {
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: this.raftLog.lastIndex() }));
    } else {
      this.send(newMessage(MessageType.AppResp, { to: m.from, index: this.raftLog.committed }));
    }
  }

  /** Installs a snapshot from the leader. Returns false if it brought nothing new. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.Follower) {
      throw new RaftInvariantError("only a follower may restore a snapshot");
    }
    if (this.raftLog.matchTerm(s.metadata.index, s.metadata.term)) {
      // Our log already contains the snapshot's last entry: just fast-forward commit.
      this.raftLog.commitTo(s.metadata.index);
      return false;
    }
    this.raftLog.restore(s);
    this.trk = new ProgressTracker(this.cfg.maxInflightMsgs);
    this.switchToConfig(s.metadata.confState);
    return true;
  }

  // ---------------------------------------------------------------- leader helpers

  /** Appends entries at the end of the leader's log, stamping term and index. */
  appendEntry(es: readonly Entry[]): boolean {
    let li = this.raftLog.lastIndex();
    const stamped: Entry[] = new Array<Entry>(es.length);
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      stamped[i] = { term: this.term, index: ++li, type: e.type, data: e.data };
    }
    if (!this.increaseUncommittedSize(stamped)) return false;
    li = this.raftLog.append(stamped);
    this.trk.progress.get(this.id)?.maybeUpdate(li);
    this.maybeCommit();
    return true;
  }

  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
    const s = payloadSize(ents);
    const max = this.cfg.maxUncommittedEntriesSize;
    // Always accept when nothing is uncommitted so one oversized entry cannot block forever.
    if (max > 0 && this.uncommittedSize > 0 && s > 0 && this.uncommittedSize + s > max)
      return false;
    this.uncommittedSize += s;
    return true;
  }

  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.state !== StateType.Leader) return;
    const s = payloadSize(ents);
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: Message): void {
    if (this.cfg.readOnlyOption === "safe") {
      const ctx = m.context ?? EMPTY;
      if (ctx.length === 0) throw new RaftInvariantError("ReadIndex needs a non-empty context");
      this.readOnly.addRequest(this.raftLog.committed, m);
      // A read confirmed by the heartbeat round; our own ack counts.
      this.readOnly.recvAck(this.id, ctx);
      this.bcastHeartbeat(ctx);
    } else {
      this.respondToReadIndex(m, this.raftLog.committed);
    }
  }

  private respondToReadIndex(req: Message, index: number): void {
    const ctx = req.context ?? EMPTY;
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, ctx });
      return;
    }
    const resp = newMessage(MessageType.ReadIndexResp, { to: req.from, index });
    resp.context = ctx;
    this.send(resp);
  }

  // ---------------------------------------------------------------- membership

  /**
   * Starts a brand-new cluster by writing one committed AddNode entry per initial voter at
   * indices 1..n in term 1 (etcd's Bootstrap). Because the initial configuration is in the log,
   * a member added later learns it by replaying the log (or from a snapshot).
   */
  bootstrap(voters: readonly NodeId[]): void {
    if (this.raftLog.lastIndex() !== 0 || this.term !== 0) {
      throw new RaftArgumentError("bootstrap", "storage already holds a log or a term");
    }
    if (this.trk.progress.size > 0) {
      throw new RaftArgumentError("bootstrap", "storage already holds a configuration");
    }
    const ids = [...new Set(voters)];
    if (ids.length === 0 || !ids.every((id) => Number.isSafeInteger(id) && id > 0)) {
      throw new RaftArgumentError("voters", "must be a non-empty list of positive node ids");
    }
    this.writeBootstrapEntries(ids.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId })));
    this.becomeFollower(this.term, NONE);
  }

  /**
   * Appends the initial configuration as committed conf-change entries 1..n of term 1 and takes
   * it into effect at once (so the node can campaign); the host applies the same entries from
   * the first Ready, which is then a no-op. Every initial member writes identical entries.
   */
  private writeBootstrapEntries(changes: ConfChange[]): void {
    const ents: Entry[] = changes.map((cc, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange(cc),
    }));
    this.term = 1;
    this.vote = NONE;
    this.bootstrapIndex = ents.length;
    this.raftLog.append(ents);
    this.raftLog.commitTo(ents.length);
    for (const cc of changes) this.applyConfChange(cc);
  }

  /** Applies a committed conf change (called by the host when it applies the entry). */
  applyConfChange(cc: ConfChange): ConfState {
    const cur = this.trk.confState();
    // A change that is invalid at apply time is a no-op on every node alike (the log is the
    // same everywhere), so replicas never diverge.
    if (confChangeProblem(cur, cc)) return cur;
    const next = applyConfChangeToState(cur, cc);
    this.switchToConfig(next);
    return next;
  }

  private switchToConfig(cs: ConfState): void {
    this.trk.applyConfState(cs, this.raftLog.lastIndex() + 1);
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr?.isLearner === true;
    if ((pr === undefined || this.isLearner) && this.state === StateType.Leader) {
      // A leader removed (or demoted) by the change it committed steps down; the remaining
      // voters elect a new leader after an election timeout.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.state !== StateType.Leader || cs.voters.length === 0) return;
    // The quorum may have shrunk, so more entries may be committed now.
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      for (const id of this.trk.progress.keys()) {
        if (id !== this.id) this.maybeSendAppend(id, false);
      }
    }
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee))
      this.abortLeaderTransfer();
  }
}
