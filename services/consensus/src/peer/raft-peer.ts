import type * as grpc from "@grpc/grpc-js";
import type { Logger, MetricsRegistry } from "@tessera/observability";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type NodeId,
  ProposalDroppedError,
  RaftArgumentError,
  RawNode,
  type Ready,
  type Snapshot,
  type SoftState,
  StateType,
  splitLeaderMessages,
} from "@tessera/raft";
import { DurableLog } from "@tessera/raft-storage";
import type { ManifestEventOut, StateMachine } from "../state-machine.js";
import type { ClusterTls } from "../transport/cluster-tls.js";
import type { FaultsConfig, LinkFaults } from "../transport/faults.js";
import { type DropReason, type LinkStats, PeerTransport } from "../transport/peer-transport.js";
import { decodeEntry, encodeEntry, MAX_COMMANDS_PER_ENTRY, packRuns } from "./entry-frame.js";
import {
  NotLeaderError,
  PeerArgumentError,
  PeerStoppedError,
  PeerTimeoutError,
  ProposalLostError,
  ProposalRejectedError,
} from "./errors.js";
import { createRaftMetrics, type RaftMetrics } from "./metrics.js";
import {
  decodeAddressContext,
  decodeSnapshotEnvelope,
  encodeAddressContext,
  encodeSnapshotEnvelope,
} from "./snapshot-envelope.js";
import { type RaftTiming, resolveTiming } from "./timing.js";
import type { PeerAddress, PeerRole, PeerStatus, ProposeResult, RaftPeerApi } from "./types.js";

/**
 * RaftPeer: one consensus peer — a RawNode (@tessera/raft) over a DurableLog
 * (@tessera/raft-storage), a PeerTransport (gRPC, tessera.raft.v1.Raft) and the replicated
 * StateMachine (the manifest FSM).
 *
 *   const peer = await RaftPeer.start({
 *     id: 1,
 *     peers: [{ id: 1, grpc: "127.0.0.1:7001" }, { id: 2, grpc: "127.0.0.1:7002" }, ...],
 *     dataDir: "/var/lib/tessera/raft-1",
 *     stateMachine: fsm,             // fresh; restored here from the latest snapshot
 *     server,                        // grpc.Server (create with RAFT_GRPC_OPTIONS); the Raft
 *                                    // service is added to it; the caller binds and owns it
 *     logger, metrics,               // optional registry: tessera_raft_* (see metrics.ts)
 *     timing: { tickMs: 25 },        // optional, see timing.ts for defaults
 *     faults: { default: { delayMs: 30, jitterMs: 5 } },  // optional per-link injection
 *     join: false,                   // true: start empty and wait to be added by the leader
 *   });
 *
 * Bootstrap: a fresh dataDir without `join` starts a cluster whose voters are `peers` (every
 * initial member gets the same list). With `join`, the peer starts with an empty configuration
 * and learns it from the leader once an operator calls addPeer on the leader with this peer's
 * address; `peers` then only needs the current members' addresses. A dataDir with state
 * ignores both: membership comes from the snapshot and the log. Addresses from `peers`
 * override addresses learned from the log (the operator's config is the truth for those ids).
 *
 * The host loop follows the HOST CONTRACT of libs/raft/src/raw-node.ts: persist (one
 * group-committed fsync per Ready) → send → apply → advance, except that a steady leader sends
 * its appends before persisting (splitLeaderMessages), overlapping its fsync with the followers'.
 * The leader stamps Date.now() into every proposal (8-byte LE float64 prefix); the FSM sees it as
 * CommittedCommand.stampedAt.
 * Empty entries (leader no-ops) and conf changes never reach the FSM.
 *
 * Snapshots: every timing.snapshotEvery applied entries the FSM image (plus the members'
 * addresses, see snapshot-envelope.ts) is written with log.createSnapshot and the log is
 * compacted, keeping timing.snapshotKeep entries. A snapshot from the leader restores the FSM.
 * On restart the FSM is restored from the latest snapshot and later entries are re-applied.
 *
 * Errors: NotLeaderError (with the leader's address), ProposalLostError (outcome unknown:
 * retry with the same session id/seq), ProposalRejectedError (nothing appended), PeerStoppedError,
 * PeerTimeoutError. A fatal error (storage failure, FSM throwing, Raft invariant) stops the
 * peer and is reported through onFatal; the process should exit and restart from disk.
 */

export interface RaftPeerOptions {
  readonly id: NodeId;
  /** Static members (bootstrap) or known members' addresses (join). Include this peer. */
  readonly peers: readonly PeerAddress[];
  readonly dataDir: string;
  readonly stateMachine: StateMachine;
  readonly server: grpc.Server;
  /** The cluster's mutual TLS for the links to other peers (the server's is set where it binds). */
  readonly tls?: ClusterTls | undefined;
  readonly logger: Logger;
  readonly metrics?: MetricsRegistry | undefined;
  readonly timing?: Partial<RaftTiming> | undefined;
  readonly faults?: FaultsConfig | undefined;
  readonly join?: boolean | undefined;
  /** Randomness for election timeouts (default Math.random); seed it in simulations. */
  readonly random?: (() => number) | undefined;
  /** Transport reconnect backoff override (ms). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number } | undefined;
}

/** Counters for /v1/cluster, /metrics and tests. */
export interface RaftPeerStats {
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly snapshotIndex: number;
  readonly leaderChanges: number;
  readonly lastSnapshot?: { index: number; bytes: number; ms: number; source: "local" | "leader" };
  readonly links: readonly LinkStats[];
}

/** A command waiting to be packed into an entry (proposals queue while an append is in flight). */
interface QueuedCommand {
  readonly data: Uint8Array;
  readonly startedAt: number;
  readonly resolve: (r: ProposeResult) => void;
  readonly reject: (e: Error) => void;
}

/** An entry this leader appended, with the callers of the commands packed into it, in order. */
interface PendingProposal {
  readonly term: number;
  readonly startedAt: number;
  readonly waiters: readonly Pick<QueuedCommand, "resolve" | "reject">[];
}

function rejectPending(p: PendingProposal, err: Error): void {
  for (const w of p.waiters) w.reject(err);
}

interface PendingRead {
  /** Read index once the leader confirmed it; undefined while the round is in flight. */
  index: number | undefined;
  readonly startedAt: number;
  readonly resolve: (applied: number) => void;
  readonly reject: (e: Error) => void;
}

type LeaderListener = (leaderId: NodeId | 0, term: number) => void;
type AppliedListener = (index: number, events: readonly ManifestEventOut[]) => void;
type FatalListener = (err: unknown) => void;

const EMPTY = new Uint8Array(0);

function roleOf(state: StateType, learner: boolean): PeerRole {
  if (learner) return "learner";
  switch (state) {
    case StateType.Leader:
      return "leader";
    case StateType.Candidate:
      return "candidate";
    case StateType.PreCandidate:
      return "pre-candidate";
    default:
      return "follower";
  }
}

function validateAddress(a: PeerAddress, field: string): void {
  if (a === null || typeof a !== "object") throw new PeerArgumentError(field, "must be an object");
  if (!Number.isSafeInteger(a.id) || a.id <= 0) {
    throw new PeerArgumentError(`${field}.id`, `must be a positive integer, got ${String(a.id)}`);
  }
  if (typeof a.grpc !== "string" || !/^[^\s:]+:\d+$/.test(a.grpc)) {
    throw new PeerArgumentError(`${field}.grpc`, `must be host:port, got ${String(a.grpc)}`);
  }
}

export class RaftPeer implements RaftPeerApi {
  readonly id: NodeId;
  private readonly raw: RawNode;
  private readonly transport: PeerTransport;
  private readonly fsm: StateMachine;
  private readonly log: Logger;
  private readonly metrics: RaftMetrics | undefined;
  private readonly addresses = new Map<NodeId, PeerAddress>();
  private readonly staticIds: ReadonlySet<NodeId>;

  private confState: ConfState;
  private applied: number;
  private snapshotIndex: number;
  private term: number;
  private commit: number;
  private state: StateType = StateType.Follower;
  /** storage.stats().fsyncs already added to the fsync counter. */
  private fsyncsCounted = 0;
  private leaderId: NodeId = 0;
  private leaderChanges = 0;
  private lastSnapshot: RaftPeerStats["lastSnapshot"];

  private readonly pending = new Map<number, PendingProposal>();
  private queued: QueuedCommand[] = [];
  private readonly reads = new Map<number, PendingRead>();
  private nextReadId = 1;
  private readonly leaderListeners = new Set<LeaderListener>();
  private readonly appliedListeners = new Set<AppliedListener>();
  private readonly fatalListeners = new Set<FatalListener>();

  private ticker: NodeJS.Timeout | undefined;
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private snapshotting: Promise<void> | undefined;
  private stopped = false;
  private stopReason = "";
  private removed = false;
  private warnedWiped = false;

  /** Opens (or creates) the peer's log, restores the FSM, registers the Raft service, starts ticking. */
  static async start(options: RaftPeerOptions): Promise<RaftPeer> {
    const o = options;
    if (!Number.isSafeInteger(o.id) || o.id <= 0) {
      throw new PeerArgumentError("id", `must be a positive integer, got ${String(o.id)}`);
    }
    if (!Array.isArray(o.peers)) throw new PeerArgumentError("peers", "must be a list");
    for (const [i, p] of o.peers.entries()) validateAddress(p, `peers[${i}]`);
    const ids = o.peers.map((p) => p.id);
    if (new Set(ids).size !== ids.length) throw new PeerArgumentError("peers", "duplicate peer id");
    if (!o.join && !ids.includes(o.id)) {
      throw new PeerArgumentError("peers", `must include this peer (${o.id}) unless joining`);
    }
    if (typeof o.dataDir !== "string" || o.dataDir === "") {
      throw new PeerArgumentError("dataDir", "must be a non-empty path");
    }
    const timing = resolveTiming(o.timing);
    const log = await DurableLog.open(
      o.dataDir,
      o.join
        ? {}
        : {
            bootstrap: { voters: [...ids].sort((a, b) => a - b), learners: [], votersOutgoing: [] },
          },
    );
    try {
      return new RaftPeer(o, timing, log);
    } catch (e) {
      await log.close().catch(() => {});
      throw e;
    }
  }

  private constructor(
    opts: RaftPeerOptions,
    private readonly timing: RaftTiming,
    private readonly storage: DurableLog,
  ) {
    this.id = opts.id;
    this.fsm = opts.stateMachine;
    this.log = opts.logger.child({ component: "raft-peer", peer: opts.id });
    this.metrics = opts.metrics ? createRaftMetrics(opts.metrics) : undefined;
    this.staticIds = new Set(opts.peers.map((p) => p.id));

    // Recover: the FSM starts from the latest snapshot; later entries are re-applied.
    const snap = storage.snapshot();
    this.confState = snap.metadata.confState;
    this.applied = snap.metadata.index;
    this.snapshotIndex = snap.metadata.index;
    if (snap.metadata.index > 0 && snap.data.length > 0) this.restoreSnapshot(snap, "restart");
    for (const p of opts.peers) this.addresses.set(p.id, p);
    const hs = storage.hardState();
    this.term = hs.term;
    this.commit = hs.commit;

    this.raw = new RawNode(
      {
        id: opts.id,
        random: opts.random ?? Math.random,
        electionTick: timing.electionTick,
        heartbeatTick: timing.heartbeatTick,
        preVote: timing.preVote,
        checkQuorum: timing.checkQuorum,
        maxSizePerMsg: timing.maxSizePerMsg,
        maxInflightMsgs: timing.maxInflightMsgs,
        snapshotChunkSize: timing.snapshotChunkSize,
        maxCommittedSizePerReady: timing.maxCommittedSizePerReady,
        applied: this.applied,
      },
      storage,
    );

    this.transport = new PeerTransport({
      id: opts.id,
      server: opts.server,
      tls: opts.tls,
      logger: opts.logger,
      faults: opts.faults,
      backoff: opts.backoff,
      onMessage: (m) => this.receive(m),
      onUnreachable: (to) => this.safely(() => this.raw.reportUnreachable(to)),
      onSnapshotFailed: (to) => this.safely(() => this.raw.reportSnapshot(to, false)),
      onDrop: (to, reason: DropReason, n) =>
        this.metrics?.transportDropped.inc({ to: String(to), reason }, n),
    });
    for (const a of this.addresses.values()) this.transport.setPeer(a);

    this.log.info(
      {
        term: this.term,
        index: this.applied,
        commit: this.commit,
        lastIndex: storage.lastIndex(),
        voters: this.confState.voters,
        learners: this.confState.learners,
        join: opts.join === true,
        tickMs: timing.tickMs,
        electionTick: timing.electionTick,
        heartbeatTick: timing.heartbeatTick,
      },
      "raft peer started",
    );
    this.ticker = setInterval(() => this.onTick(), timing.tickMs);
    this.kick();
  }

  // ---- events ----

  onLeaderChange(listener: LeaderListener): () => void {
    this.leaderListeners.add(listener);
    return () => this.leaderListeners.delete(listener);
  }

  onApplied(listener: AppliedListener): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  /** The peer stopped itself after an unrecoverable error (storage, FSM, invariant). */
  onFatal(listener: FatalListener): () => void {
    this.fatalListeners.add(listener);
    return () => this.fatalListeners.delete(listener);
  }

  // ---- status ----

  isLeader(): boolean {
    return !this.stopped && this.state === StateType.Leader;
  }

  leaderAddress(): PeerAddress | undefined {
    return this.leaderId === 0 ? undefined : this.addresses.get(this.leaderId);
  }

  status(): PeerStatus {
    const st = this.raw.status();
    const cs = st.confState;
    const member = (id: NodeId, voter: boolean) => ({
      id,
      voter,
      address: this.addresses.get(id),
      matchIndex: st.progress?.get(id)?.match,
    });
    return {
      id: this.id,
      role: roleOf(st.state, cs.learners.includes(this.id)),
      term: st.term,
      leaderId: st.lead,
      commitIndex: st.commit,
      appliedIndex: this.applied,
      snapshotIndex: this.snapshotIndex,
      members: [
        ...cs.voters.map((id) => member(id, true)),
        ...cs.learners.map((id) => member(id, false)),
      ],
    };
  }

  stats(): RaftPeerStats {
    return {
      term: this.term,
      commitIndex: this.commit,
      appliedIndex: this.applied,
      snapshotIndex: this.snapshotIndex,
      leaderChanges: this.leaderChanges,
      ...(this.lastSnapshot ? { lastSnapshot: this.lastSnapshot } : {}),
      links: this.transport.stats(),
    };
  }

  /** The replicated state machine's digest at the current applied index. */
  digest(): string {
    return this.fsm.digest();
  }

  // ---- faults (admin endpoint) ----

  setLinkFaults(to: NodeId, faults: Partial<LinkFaults>): void {
    this.transport.setLinkFaults(to, faults);
  }

  setAllFaults(faults: Partial<LinkFaults>): void {
    this.transport.setAllFaults(faults);
  }

  faults(): { default: LinkFaults; links: Record<string, LinkFaults> } {
    return this.transport.faults();
  }

  // ---- proposals ----

  async propose(data: Uint8Array): Promise<ProposeResult> {
    const [p] = this.proposeEach([data]);
    return p!;
  }

  /** All-or-error form of proposeEach (rejects with the first failure). */
  proposeBatch(data: readonly Uint8Array[]): Promise<ProposeResult[]> {
    if (data.length === 0) return Promise.resolve([]);
    return Promise.all(this.proposeEach(data));
  }

  /**
   * Proposes commands and returns one promise per command, each settled independently once its
   * entry is applied here (so ingestion can ack exactly the messages whose commands applied).
   * Commands queue until the host loop takes its next Ready and, while an entry of the leader's is
   * still uncommitted, until it commits (group commit, see holdQueued): everything that arrived
   * meanwhile goes into one entry (up to MAX_COMMANDS_PER_ENTRY / MAX_BYTES_PER_ENTRY), so under
   * load one log record, one append round to the followers and one event batch carry many
   * commands; an idle leader still proposes a lone command at once.
   */
  proposeEach(data: readonly Uint8Array[]): Promise<ProposeResult>[] {
    const fail = (e: Error) => data.map(() => Promise.reject(e));
    if (this.stopped) return fail(new PeerStoppedError(this.id, this.stopReason));
    for (const d of data) {
      if (!(d instanceof Uint8Array)) {
        return fail(new PeerArgumentError("data", "every command must be a Uint8Array"));
      }
    }
    // Ask the core, not the cached soft state: a message stepped since the last Ready may
    // have deposed us, and a follower's propose would be forwarded without tracking.
    const st = this.raw.status();
    if (st.state !== StateType.Leader) return fail(this.notLeader(st.lead));
    if (st.leadTransferee !== 0) {
      return fail(
        new ProposalRejectedError(`leadership transfer to ${st.leadTransferee} in progress`),
      );
    }
    const startedAt = performance.now();
    const out = data.map(
      (d) =>
        new Promise<ProposeResult>((resolve, reject) => {
          this.queued.push({ data: d, startedAt, resolve, reject });
        }),
    );
    this.kick();
    return out;
  }

  /**
   * Group commit: while the leader has an entry in flight (appended, not yet committed), new
   * commands wait for it instead of following it at once in an entry of their own. Every entry
   * costs each peer an append round (a gRPC message, a log record, an fsync, an apply and an event
   * batch on TESSERA_EVENTS) whatever it carries, and under load commands trickle in between
   * Readies, so without the hold entries stayed small (4–5 commands in a 10,000-task noop run)
   * and that per-entry work was most of the peers' CPU. A command that arrives while nothing is
   * in flight is proposed at once (no added latency when the log is idle); one that arrives
   * behind an entry waits at most for that commit, or one tick when commits stall (no quorum:
   * then the log holds it instead, uncommitted, as before), or until a full entry has queued.
   */
  private holdQueued(st: { state: StateType; lastIndex: number; commit: number }): boolean {
    const oldest = this.queued[0];
    return (
      oldest !== undefined &&
      st.state === StateType.Leader &&
      st.lastIndex > st.commit &&
      this.queued.length < MAX_COMMANDS_PER_ENTRY &&
      performance.now() - oldest.startedAt < this.timing.tickMs
    );
  }

  /** Packs the queued commands into entries and hands them to the core (see proposeEach). */
  private flushQueued(): void {
    if (this.queued.length === 0) return;
    const st = this.raw.status();
    if (this.holdQueued(st)) return;
    const queued = this.queued;
    this.queued = [];
    let refusal: Error | undefined;
    if (st.state !== StateType.Leader) refusal = this.notLeader(st.lead);
    else if (st.leadTransferee !== 0) {
      refusal = new ProposalRejectedError(
        `leadership transfer to ${st.leadTransferee} in progress`,
      );
    }
    const now = Date.now();
    let index = st.lastIndex;
    const runs = packRuns(queued);
    for (const [i, run] of runs.entries()) {
      if (!refusal) {
        try {
          this.raw.propose(
            encodeEntry(
              now,
              run.map((q) => q.data),
            ),
          );
        } catch (e) {
          if (!(e instanceof ProposalDroppedError)) {
            // A bug in the core: the peer stops (fatal). Runs already proposed are pending and
            // are failed with it; the rest must not be left waiting either.
            for (const q of runs.slice(i).flat()) q.reject(e as Error);
            throw e;
          }
          refusal = new ProposalRejectedError(e.reason);
        }
      }
      if (refusal) {
        this.metrics?.proposals.inc({ outcome: "rejected" }, run.length);
        for (const q of run) q.reject(refusal);
        continue;
      }
      index++;
      this.metrics?.entryCommands.observe(run.length);
      this.pending.set(index, {
        term: st.term,
        startedAt: (run[0] as QueuedCommand).startedAt,
        waiters: run,
      });
    }
  }

  private track(index: number, term: number, startedAt: number): Promise<ProposeResult> {
    return new Promise<ProposeResult>((resolve, reject) => {
      this.pending.set(index, { term, startedAt, waiters: [{ resolve, reject }] });
    });
  }

  private notLeader(leaderId: NodeId): NotLeaderError {
    return new NotLeaderError(
      this.id,
      leaderId,
      leaderId === 0 ? undefined : this.addresses.get(leaderId),
    );
  }

  async readBarrier(): Promise<number> {
    if (this.stopped) throw new PeerStoppedError(this.id, this.stopReason);
    const st = this.raw.status();
    if (st.state !== StateType.Leader) throw this.notLeader(st.lead);
    const id = this.nextReadId++;
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setFloat64(0, id, true);
    const p = new Promise<number>((resolve, reject) => {
      this.reads.set(id, { index: undefined, startedAt: performance.now(), resolve, reject });
    });
    try {
      this.raw.readIndex(ctx);
    } catch (e) {
      this.reads.delete(id);
      if (e instanceof ProposalDroppedError) throw this.notLeader(0);
      throw e;
    }
    this.kick();
    return p;
  }

  // ---- membership and leadership ----

  async transferLeadership(to?: NodeId): Promise<void> {
    if (this.stopped) throw new PeerStoppedError(this.id, this.stopReason);
    const st = this.raw.status();
    if (st.state !== StateType.Leader) throw this.notLeader(st.lead);
    let target = to;
    if (target === undefined) {
      // The most up-to-date other voter finishes the transfer fastest.
      let best = -1;
      for (const id of st.confState.voters) {
        const match = st.progress?.get(id)?.match ?? 0;
        if (id !== this.id && match > best) {
          best = match;
          target = id;
        }
      }
      if (target === undefined) throw new PeerArgumentError("to", "no other voter to transfer to");
    }
    if (target === this.id) return;
    if (!st.confState.voters.includes(target)) {
      throw new PeerArgumentError("to", `${target} is not a voter`);
    }
    this.log.info({ term: st.term, to: target }, "transferring leadership");
    const done = this.waitFor(
      () => this.leaderId === target,
      this.timing.transferTimeoutMs,
      `leadership transfer to ${target}`,
    );
    this.raw.transferLeadership(target);
    this.kick();
    await done;
  }

  async addPeer(address: PeerAddress, asLearnerFirst = true): Promise<void> {
    validateAddress(address, "address");
    const st = this.raw.status();
    if (st.state !== StateType.Leader) throw this.notLeader(st.lead);
    const ctx = encodeAddressContext(address);
    const cs = st.confState;
    if (cs.voters.includes(address.id)) return;
    if (asLearnerFirst) {
      if (!cs.learners.includes(address.id)) {
        await this.proposeConfChange({
          type: ConfChangeType.AddLearner,
          nodeId: address.id,
          context: ctx,
        });
      }
      const target = this.raw.status().commit;
      this.log.info({ to: address.id, index: target }, "learner added; waiting for catch-up");
      await this.waitFor(
        () => {
          if (!this.isLeader()) throw this.notLeader(this.leaderId);
          return (this.raw.status().progress?.get(address.id)?.match ?? 0) >= target;
        },
        this.timing.catchUpTimeoutMs,
        `catch-up of learner ${address.id}`,
      );
    }
    await this.proposeConfChange({
      type: ConfChangeType.AddNode,
      nodeId: address.id,
      context: ctx,
    });
    this.log.info({ to: address.id, address: address.grpc }, "peer added as voter");
  }

  async removePeer(id: NodeId): Promise<void> {
    if (!Number.isSafeInteger(id) || id <= 0) {
      throw new PeerArgumentError("id", `must be a positive integer, got ${String(id)}`);
    }
    const st = this.raw.status();
    if (st.state !== StateType.Leader) throw this.notLeader(st.lead);
    await this.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: id });
    this.log.info({ to: id }, "peer removed");
  }

  /** Proposes a membership change and resolves once it is applied here. */
  private async proposeConfChange(cc: ConfChange): Promise<void> {
    // Only one change may be pending; a new leader's earlier change may still be applying,
    // so a drop is retried for a couple of election timeouts before giving up.
    const deadline = performance.now() + 2 * this.timing.electionTick * this.timing.tickMs * 2;
    for (;;) {
      if (this.stopped) throw new PeerStoppedError(this.id, this.stopReason);
      const st = this.raw.status();
      if (st.state !== StateType.Leader) throw this.notLeader(st.lead);
      try {
        this.raw.proposeConfChange(cc);
      } catch (e) {
        if (!(e instanceof ProposalDroppedError)) throw e;
        if (performance.now() > deadline) throw new ProposalRejectedError(e.reason);
        await new Promise((r) => setTimeout(r, this.timing.tickMs));
        continue;
      }
      const p = this.track(st.lastIndex + 1, st.term, performance.now());
      this.kick();
      await p;
      return;
    }
  }

  // ---- stop ----

  async stop(opts: { transfer?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    if (opts.transfer && this.isLeader() && this.confState.voters.length > 1) {
      try {
        await this.transferLeadership();
      } catch (e) {
        this.log.warn({ err: e, term: this.term }, "leadership transfer before stop failed");
      }
    }
    await this.shutdown("stopped");
  }

  private async shutdown(reason: string): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopReason = reason;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    await this.loop.catch(() => {});
    this.failAll(() => new PeerStoppedError(this.id, reason));
    await this.transport.close();
    await this.snapshotting?.catch(() => {});
    await this.storage
      .close()
      .catch((e: unknown) => this.log.warn({ err: e }, "closing the log failed"));
    if (this.state === StateType.Leader) this.metrics?.isLeader.set(0);
    this.log.info({ term: this.term, index: this.applied, reason }, "raft peer stopped");
  }

  private failAll(err: (index: number, term: number) => Error): void {
    for (const [index, p] of this.pending) {
      rejectPending(p, err(index, p.term));
      this.metrics?.proposals.inc({ outcome: "lost" }, p.waiters.length);
    }
    this.pending.clear();
    const queued = this.queued;
    this.queued = [];
    for (const q of queued) q.reject(err(0, 0));
    for (const r of this.reads.values()) r.reject(err(0, 0));
    this.reads.clear();
  }

  private fatal(e: unknown): void {
    if (this.stopped) return;
    this.log.fatal({ err: e, term: this.term, index: this.applied }, "raft peer failed; stopping");
    void this.shutdown(`fatal: ${e instanceof Error ? e.message : String(e)}`).finally(() => {
      for (const l of this.fatalListeners) l(e);
    });
  }

  // ---- the host loop ----

  /** Term of a local entry, or -1 when it is no longer (or not yet) in the log. */
  private termAt(index: number): number {
    try {
      return this.storage.term(index);
    } catch {
      return -1;
    }
  }

  private receive(msg: Message): void {
    if (this.stopped) return;
    let m = msg;
    if (m.type === MessageType.Heartbeat && m.commit > this.storage.lastIndex()) {
      // The leader remembers a match index our log no longer has: this peer's data dir was
      // wiped and it came back empty. Committing beyond the log would be an invariant
      // violation in the core. Committing our last entry is safe only when it carries the
      // leader's term (Log Matching: it and everything before it are the leader's); otherwise
      // commit nothing new. The next append (rejected for the missing prefix) sends the leader
      // back to probing and on to InstallSnapshot.
      if (!this.warnedWiped) {
        this.warnedWiped = true;
        this.log.warn(
          { term: m.term, from: m.from, commit: m.commit, lastIndex: this.storage.lastIndex() },
          "leader's commit index is beyond our log (data dir wiped?); catching up",
        );
      }
      const last = this.storage.lastIndex();
      m = { ...m, commit: this.termAt(last) === m.term ? last : 0 };
    }
    try {
      this.raw.step(m);
    } catch (e) {
      if (e instanceof RaftArgumentError) {
        this.log.warn({ err: e, from: m.from }, "dropping invalid raft message");
        return;
      }
      this.fatal(e);
      return;
    }
    this.kick();
  }

  private safely(f: () => void): void {
    if (this.stopped) return;
    try {
      f();
    } catch (e) {
      this.fatal(e);
    }
  }

  private onTick(): void {
    if (this.stopped) return;
    this.safely(() => this.raw.tick());
    this.expireWaiting();
    this.kick();
  }

  /** Runs the Ready loop until nothing is left; calls made while it runs are folded in. */
  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.loop = this.drain().then(
      () => {
        this.running = false;
        if (this.stopped) return;
        // Held commands wait for the commit (or the tick) that kicks the loop again.
        if (this.raw.hasReady() || (this.queued.length > 0 && !this.holdQueued(this.raw.status())))
          this.kick();
      },
      (e: unknown) => {
        this.running = false;
        this.fatal(e);
      },
    );
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      this.flushQueued();
      if (!this.raw.hasReady()) return;
      const rd: Ready = this.raw.ready();
      // 0. A steady leader's appends go out first: its fsync overlaps the followers' (safe
      //    because this loop takes the next Ready only after this write; see splitLeaderMessages).
      const { beforePersist, afterPersist } = splitLeaderMessages(
        rd,
        rd.softState?.state ?? this.state,
        this.term,
      );
      if (beforePersist.length > 0) this.transport.send(beforePersist);
      // 1. Persist; one group-committed fsync covers every entry of this Ready.
      if (rd.entries.length > 0) this.metrics?.readyEntries.observe(rd.entries.length);
      if (rd.snapshot || rd.entries.length > 0 || rd.hardState) {
        await this.storage.write(
          { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState },
          { sync: rd.mustSync },
        );
      }
      if (this.stopped) return;
      // 2. Send the rest, only now that what those messages claim is durable.
      if (afterPersist.length > 0) this.transport.send(afterPersist);
      if (rd.hardState) {
        this.term = rd.hardState.term;
        this.commit = rd.hardState.commit;
      }
      // 3. Apply.
      if (rd.snapshot) this.restoreSnapshot(rd.snapshot, "leader");
      this.applyEntries(rd.committedEntries);
      if (rd.softState) this.onSoftState(rd.softState);
      for (const rs of rd.readStates) {
        const id =
          rs.ctx.length === 8
            ? new DataView(rs.ctx.buffer, rs.ctx.byteOffset, 8).getFloat64(0, true)
            : 0;
        const r = this.reads.get(id);
        if (r) r.index = rs.index;
      }
      this.serveReads();
      // 4. Advance.
      this.raw.advance(rd);
      this.updateGauges();
      this.maybeSnapshot();
    }
  }

  private applyEntries(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index <= this.applied) continue;
      let replies: readonly Uint8Array[] = [];
      if (e.type === EntryType.ConfChange) {
        this.applyConfChange(e);
      } else if (e.data.length > 0) {
        const entry = decodeEntry(e.data);
        if (entry) {
          const at = { index: e.index, term: e.term, stampedAt: entry.stampedAt };
          let events: readonly ManifestEventOut[];
          if (entry.batched) {
            const outcome = this.fsm.applyBatch({ ...at, commands: entry.commands });
            replies = outcome.replies;
            events = outcome.events;
          } else {
            const outcome = this.fsm.apply({ ...at, data: entry.commands[0] as Uint8Array });
            replies = [outcome.reply];
            events = outcome.events;
          }
          this.applied = e.index;
          for (const l of this.appliedListeners) {
            try {
              l(e.index, events);
            } catch (err) {
              this.log.error({ err, index: e.index }, "onApplied listener threw");
            }
          }
        } else {
          // Not written by this host (every proposal has the 8-byte stamp): skip it everywhere.
          this.log.error(
            { index: e.index, term: e.term, bytes: e.data.length },
            "entry without time stamp or with a broken batch frame skipped",
          );
        }
      }
      this.applied = e.index;
      const p = this.pending.get(e.index);
      if (p) {
        this.pending.delete(e.index);
        if (p.term === e.term) {
          p.waiters.forEach((w, i) => {
            w.resolve({ index: e.index, term: e.term, reply: replies[i] ?? EMPTY });
          });
          this.metrics?.proposals.inc({ outcome: "applied" }, p.waiters.length);
          this.metrics?.commitLatency.observe((performance.now() - p.startedAt) / 1000);
        } else {
          rejectPending(p, new ProposalLostError(e.index, p.term, `index taken by term ${e.term}`));
          this.metrics?.proposals.inc({ outcome: "lost" }, p.waiters.length);
        }
      }
    }
  }

  private applyConfChange(e: Entry): void {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch (err) {
      // Every peer fails the same way on the same committed bytes, so skipping stays consistent.
      this.log.error({ err, index: e.index, term: e.term }, "undecodable conf change skipped");
      return;
    }
    this.confState = this.raw.applyConfChange(cc);
    if (cc.type === ConfChangeType.RemoveNode) {
      if (!this.staticIds.has(cc.nodeId)) this.addresses.delete(cc.nodeId);
      this.transport.removePeer(cc.nodeId);
      if (cc.nodeId === this.id) {
        this.removed = true;
        this.log.warn({ index: e.index, term: e.term }, "this peer was removed from the cluster");
      }
    } else {
      const addr = cc.context ? decodeAddressContext(cc.context, cc.nodeId) : undefined;
      if (addr && !this.staticIds.has(addr.id)) {
        this.addresses.set(addr.id, addr);
        this.transport.setPeer(addr);
      }
    }
    this.log.info(
      {
        index: e.index,
        term: e.term,
        change: ConfChangeType[cc.type],
        to: cc.nodeId,
        voters: this.confState.voters,
        learners: this.confState.learners,
      },
      "membership changed",
    );
  }

  private restoreSnapshot(snap: Snapshot, source: "restart" | "leader"): void {
    const t0 = performance.now();
    const { index } = snap.metadata;
    const env = decodeSnapshotEnvelope(index, snap.data);
    this.fsm.restore(env.fsm);
    for (const a of env.addresses) {
      if (this.staticIds.has(a.id)) continue;
      this.addresses.set(a.id, a);
      // During construction the transport does not exist yet; it gets every address then.
      if (source === "leader") this.transport.setPeer(a);
    }
    this.confState = snap.metadata.confState;
    this.applied = Math.max(this.applied, index);
    this.snapshotIndex = index;
    const ms = performance.now() - t0;
    const kind = source === "leader" ? "leader" : "local";
    this.lastSnapshot = { index, bytes: snap.data.length, ms, source: kind };
    this.metrics?.snapshotBytes.set(snap.data.length);
    if (source === "leader") this.metrics?.snapshotSeconds.observe({ source: kind }, ms / 1000);
    this.log.info(
      { index, term: snap.metadata.term, bytes: snap.data.length, ms: Math.round(ms), source },
      "state machine restored from snapshot",
    );
    // Proposals at or below the snapshot cannot be ours to answer any more.
    for (const [i, p] of this.pending) {
      if (i > index) continue;
      this.pending.delete(i);
      rejectPending(
        p,
        new ProposalLostError(i, p.term, "superseded by a snapshot from the leader"),
      );
    }
  }

  private onSoftState(ss: SoftState): void {
    const wasLeader = this.state === StateType.Leader;
    const prevLeader = this.leaderId;
    if (ss.state !== this.state) {
      this.log.debug(
        { term: this.term, index: this.applied, role: StateType[ss.state] },
        "role changed",
      );
    }
    this.state = ss.state;
    this.leaderId = ss.lead;
    if (wasLeader && ss.state !== StateType.Leader) {
      this.log.info({ term: this.term, index: this.applied, leader: ss.lead }, "lost leadership");
      // Appended entries may still commit under the next leader: the outcome is unknown.
      for (const [index, p] of this.pending) {
        rejectPending(p, new ProposalLostError(index, p.term, "leadership lost"));
        this.metrics?.proposals.inc({ outcome: "lost" }, p.waiters.length);
      }
      this.pending.clear();
      for (const r of this.reads.values()) r.reject(this.notLeader(ss.lead));
      this.reads.clear();
    }
    if (ss.lead !== prevLeader) {
      this.leaderChanges++;
      this.metrics?.leaderChanges.inc();
      this.log.info(
        { term: this.term, index: this.applied, leader: ss.lead, previous: prevLeader },
        ss.lead === this.id ? "became leader" : "leader changed",
      );
      for (const l of this.leaderListeners) {
        try {
          l(ss.lead, this.term);
        } catch (err) {
          this.log.error({ err }, "onLeaderChange listener threw");
        }
      }
    }
  }

  private serveReads(): void {
    for (const [id, r] of this.reads) {
      if (r.index !== undefined && r.index <= this.applied) {
        this.reads.delete(id);
        r.resolve(this.applied);
      }
    }
  }

  private expireWaiting(): void {
    const now = performance.now();
    // Commands still queued this long mean the host loop is stuck (a write that does not return):
    // they never reached the log, so refusing them is safe and lets callers retry elsewhere.
    const stale = this.queued.filter((q) => now - q.startedAt >= this.timing.proposalTimeoutMs);
    if (stale.length > 0) {
      this.queued = this.queued.filter((q) => now - q.startedAt < this.timing.proposalTimeoutMs);
      const err = new ProposalRejectedError(
        `not appended within ${this.timing.proposalTimeoutMs} ms (the log is not taking writes)`,
      );
      for (const q of stale) q.reject(err);
      this.metrics?.proposals.inc({ outcome: "rejected" }, stale.length);
    }
    // Map order is proposal order, so the oldest are first.
    for (const [index, p] of this.pending) {
      if (now - p.startedAt < this.timing.proposalTimeoutMs) break;
      this.pending.delete(index);
      rejectPending(
        p,
        new ProposalLostError(
          index,
          p.term,
          `not applied within ${this.timing.proposalTimeoutMs} ms`,
        ),
      );
      this.metrics?.proposals.inc({ outcome: "lost" }, p.waiters.length);
    }
    for (const [id, r] of this.reads) {
      if (now - r.startedAt < this.timing.readTimeoutMs) break;
      this.reads.delete(id);
      r.reject(new PeerTimeoutError("read barrier", this.timing.readTimeoutMs));
    }
  }

  private updateGauges(): void {
    const m = this.metrics;
    if (!m) return;
    m.term.set(this.term);
    m.commitIndex.set(this.commit);
    m.appliedIndex.set(this.applied);
    m.isLeader.set(this.state === StateType.Leader ? 1 : 0);
    const { fsyncs } = this.storage.stats();
    if (fsyncs > this.fsyncsCounted) m.logFsyncs.inc(fsyncs - this.fsyncsCounted);
    this.fsyncsCounted = fsyncs;
  }

  /**
   * Takes a snapshot every snapshotEvery applied entries. The FSM image is taken here, between
   * Readys, so it is exactly the state at `applied`; writing it and compacting run in the
   * background so a large image never stalls heartbeats.
   */
  private maybeSnapshot(): void {
    if (this.snapshotting || this.applied - this.snapshotIndex < this.timing.snapshotEvery) return;
    const index = this.applied;
    const confState = this.confState;
    const t0 = performance.now();
    const members = [...confState.voters, ...confState.learners]
      .map((id) => this.addresses.get(id))
      .filter((a): a is PeerAddress => a !== undefined);
    const data = encodeSnapshotEnvelope(members, this.fsm.snapshot());
    this.snapshotting = (async () => {
      await this.storage.createSnapshot(index, confState, data);
      const keepFrom = index - this.timing.snapshotKeep;
      if (keepFrom > 0) await this.storage.compact(keepFrom);
      this.snapshotIndex = Math.max(this.snapshotIndex, index);
      const ms = performance.now() - t0;
      this.lastSnapshot = { index, bytes: data.length, ms, source: "local" };
      this.metrics?.snapshotBytes.set(data.length);
      this.metrics?.snapshotSeconds.observe({ source: "local" }, ms / 1000);
      this.log.info(
        { term: this.term, index, bytes: data.length, ms: Math.round(ms) },
        "snapshot taken",
      );
    })()
      .catch((e: unknown) => {
        if (this.stopped) return;
        // A snapshot from the leader may have overtaken ours; anything else is a storage fault.
        if ((e as { code?: string }).code === "TESSERA_E_RAFT_SNAPSHOT_OUT_OF_DATE") return;
        this.fatal(e);
      })
      .finally(() => {
        this.snapshotting = undefined;
      });
  }

  /** Resolves once `cond` holds (checked every tick); rejects on timeout or stop. */
  private waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const t0 = performance.now();
      const check = () => {
        try {
          if (this.stopped) throw new PeerStoppedError(this.id, this.stopReason);
          if (cond()) return resolve();
          if (performance.now() - t0 > timeoutMs) throw new PeerTimeoutError(what, timeoutMs);
        } catch (e) {
          return reject(e);
        }
        setTimeout(check, Math.max(5, Math.floor(this.timing.tickMs / 2)));
      };
      check();
    });
  }

  /** True once a committed conf change removed this peer. */
  get isRemoved(): boolean {
    return this.removed;
  }
}
