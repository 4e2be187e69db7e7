import {
  type ConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  type MemoryStorage,
  type Message,
  ProposalDroppedError,
  RawNode,
  type Ready,
  StateType,
  splitLeaderMessages,
} from "@tessera/raft";
import type { KvOutput } from "../linearizability/kv-model.js";
import { hashBytes } from "./hash.js";
import type { InvariantChecker } from "./invariants.js";
import {
  type ApplyOutcome,
  encodeCommand,
  type KvCommand,
  KvStateMachine,
} from "./kv-state-machine.js";

/**
 * Where a host may crash while handling one Ready. Each is a moment a real process can die at,
 * and restart must be consistent from whatever reached "disk" (the MemoryStorage) by then.
 */
export type CrashPoint =
  | "after-leader-send" // a leader's appends sent ahead of its own write; nothing persisted
  | "after-snapshot-persist" // snapshot written; entries and hard state not yet
  | "after-persist" // everything persisted, nothing sent
  | "after-send" // messages sent, nothing applied
  | "mid-apply" // some committed entries applied, advance() not called
  | "after-snapshot-create"; // own snapshot written, log not yet compacted

export const CRASH_POINTS: readonly CrashPoint[] = [
  "after-leader-send",
  "after-snapshot-persist",
  "after-persist",
  "after-send",
  "mid-apply",
  "after-snapshot-create",
];

export interface NodeSettings {
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Take a snapshot after this many applied entries since the last one (0 = never). */
  readonly snapshotEvery: number;
  /** Entries kept behind a snapshot so slightly-lagging followers need no InstallSnapshot. */
  readonly keepEntries: number;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly snapshotChunkSize: number;
  /** Leader refuses proposals beyond this many uncommitted bytes (0 = unlimited). */
  readonly maxUncommittedEntriesSize: number;
  /** Committed bytes handed out per Ready (splits apply batches). */
  readonly maxCommittedSizePerReady: number;
  /** A slow clock skips one tick in every `clockSkew` steps (0 = never; the cluster applies it). */
  readonly clockSkew: number;
}

/** What a node reports back to the cluster that hosts it. */
export interface NodeHost {
  send(msg: Message): void;
  /** A client's command or read finished on this node (the node the client talked to). */
  reply(clientId: number, seq: number, output: KvOutput): void;
  /** A membership change was applied here. */
  confChanged(node: SimNode, cc: ConfChange, cs: ConfState): void;
  trace?(line: string): void;
}

interface PendingRead {
  readonly clientId: number;
  readonly seq: number;
  readonly key: string;
}

/**
 * One simulated server: the host loop around a RawNode, exactly as a production host must run it.
 *
 * `storage` is the node's disk and survives crashes; everything else (the RawNode, the applied
 * state machine, pending client requests) is memory and is lost by `crash()`. `restart()` rebuilds
 * the state machine from the stored snapshot, and the core re-delivers committed entries after it.
 */
export class SimNode {
  raw: RawNode | null = null;
  kv = new KvStateMachine();
  confState: ConfState;
  applied = 0;
  state: StateType = StateType.Follower;
  lead = 0;
  term = 0;
  /** Applied its own removal: stopped for good (etcd shuts a removed member down). */
  removed = false;
  /** Snapshots received from a leader and installed (durable across restarts is not needed). */
  snapshotsInstalled = 0;
  private pendingWrites = new Set<string>();
  private pendingReads = new Map<string, PendingRead>();
  private readyReads: { index: number; read: PendingRead }[] = [];
  private readCounter = 0;

  constructor(
    readonly id: number,
    readonly storage: MemoryStorage,
    private readonly settings: NodeSettings,
    private readonly host: NodeHost,
    private readonly checker: InvariantChecker,
  ) {
    this.confState = storage.initialState().confState;
  }

  get alive(): boolean {
    return this.raw !== null;
  }

  isLeader(): boolean {
    return this.raw !== null && this.state === StateType.Leader;
  }

  /** (Re)start from durable state. `random` drives this incarnation's election timeouts. */
  start(random: () => number): void {
    const snap = this.storage.snapshot();
    const { hardState, confState } = this.storage.initialState();
    this.kv = new KvStateMachine();
    this.kv.restore(snap.data);
    this.applied = snap.metadata.index;
    this.confState = confState;
    this.term = hardState.term;
    this.state = StateType.Follower;
    this.lead = 0;
    this.checker.onRestart(this.id, this.applied, hardState.commit);
    const s = this.settings;
    this.raw = new RawNode(
      {
        id: this.id,
        random,
        electionTick: s.electionTick,
        heartbeatTick: s.heartbeatTick,
        preVote: s.preVote,
        checkQuorum: s.checkQuorum,
        maxSizePerMsg: s.maxSizePerMsg,
        maxInflightMsgs: s.maxInflightMsgs,
        snapshotChunkSize: s.snapshotChunkSize,
        maxUncommittedEntriesSize: s.maxUncommittedEntriesSize,
        maxCommittedSizePerReady: s.maxCommittedSizePerReady,
        applied: this.applied,
      },
      this.storage,
    );
  }

  /** Process death: volatile state is gone, the storage stays. */
  crash(): void {
    this.raw = null;
    this.pendingWrites.clear();
    this.pendingReads.clear();
    this.readyReads = [];
    this.state = StateType.Follower;
    this.lead = 0;
  }

  /** A client command arrives at this node. Returns false when the core refused it outright. */
  submitCommand(cmd: KvCommand): boolean {
    const raw = this.raw;
    if (raw === null) return false;
    try {
      raw.propose(encodeCommand(cmd));
    } catch (e) {
      if (e instanceof ProposalDroppedError) return false;
      throw e;
    }
    this.pendingWrites.add(`${cmd.clientId}:${cmd.seq}`);
    return true;
  }

  /** A linearizable read arrives: ReadIndex, then serve locally once applied up to the read index. */
  submitRead(clientId: number, seq: number, key: string): boolean {
    const raw = this.raw;
    if (raw === null) return false;
    const ctx = `${this.id}/${++this.readCounter}`;
    try {
      raw.readIndex(new TextEncoder().encode(ctx));
    } catch (e) {
      if (e instanceof ProposalDroppedError) return false;
      throw e;
    }
    this.pendingReads.set(ctx, { clientId, seq, key });
    return true;
  }

  /**
   * Handles one Ready: persist (snapshot, entries, hard state) → send → apply → advance, checking
   * invariants along the way. Returns true if the node crashed at `crashAt`.
   */
  handleReady(crashAt?: CrashPoint): boolean {
    const raw = this.raw;
    if (raw === null) return false;
    const rd: Ready = raw.ready();
    const st = this.storage;

    // 0. As services/consensus does: a steady leader's appends leave before its own write.
    const { beforePersist, afterPersist } = splitLeaderMessages(
      rd,
      rd.softState?.state ?? this.state,
      this.term,
    );
    for (const m of beforePersist) this.host.send(m);
    if (crashAt === "after-leader-send" && beforePersist.length > 0) return this.crashNow();

    // 1. Persist. The snapshot goes first: entries in the same Ready follow it.
    if (rd.snapshot !== undefined) {
      st.applySnapshot(rd.snapshot);
      if (crashAt === "after-snapshot-persist") return this.crashNow();
    }
    if (
      this.host.trace !== undefined &&
      (rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot)
    ) {
      const e = rd.entries;
      const ents =
        e.length === 0
          ? ""
          : ` append ${e[0]!.index}..${e[e.length - 1]!.index} terms ${[...new Set(e.map((x) => x.term))].join(",")}`;
      const hs = rd.hardState
        ? ` hs(t${rd.hardState.term} v${rd.hardState.vote} c${rd.hardState.commit})`
        : "";
      const sn = rd.snapshot
        ? ` snapshot(${rd.snapshot.metadata.index}/t${rd.snapshot.metadata.term})`
        : "";
      this.host.trace(`n${this.id} persist${sn}${ents}${hs}`);
    }
    if (rd.entries.length > 0) {
      st.append(rd.entries);
      this.checker.onPersistEntries(this.id, rd.entries, st);
    }
    if (rd.hardState !== undefined) {
      st.setHardState(rd.hardState);
      this.term = rd.hardState.term;
      this.checker.onHardState(this.id, rd.hardState, st);
    }
    if (rd.softState !== undefined) {
      const wasLeader = this.state === StateType.Leader;
      this.state = rd.softState.state;
      this.lead = rd.softState.lead;
      if (this.state === StateType.Leader && !wasLeader) {
        this.host.trace?.(`n${this.id} became leader of term ${this.term}`);
        this.checker.onLeader(this.id, this.term, st);
      }
    }
    if (crashAt === "after-persist") return this.crashNow();

    // 2. Send the rest, only now that everything those messages reflect is durable.
    for (const m of afterPersist) this.host.send(m);
    if (crashAt === "after-send") return this.crashNow();

    // 3. Apply.
    if (rd.snapshot !== undefined) {
      this.kv.restore(rd.snapshot.data);
      this.applied = rd.snapshot.metadata.index;
      this.confState = rd.snapshot.metadata.confState;
      this.checker.onSnapshotRestore(
        this.id,
        rd.snapshot.metadata,
        hashBytes(rd.snapshot.data),
        this.term,
      );
      this.snapshotsInstalled++;
      this.host.trace?.(`n${this.id} installed snapshot at ${this.applied}`);
    }
    const mid = crashAt === "mid-apply" ? Math.floor(rd.committedEntries.length / 2) : -1;
    for (let i = 0; i < rd.committedEntries.length; i++) {
      if (i === mid) return this.crashNow();
      this.applyEntry(rd.committedEntries[i] as Entry);
      if (this.raw === null) return false; // removed itself
    }
    for (const rs of rd.readStates) {
      const ctx = new TextDecoder().decode(rs.ctx);
      const read = this.pendingReads.get(ctx);
      if (read === undefined) continue;
      this.pendingReads.delete(ctx);
      this.readyReads.push({ index: rs.index, read });
    }
    this.serveReads();

    // 4. Snapshot our own state now and then, and compact the log behind it.
    if (this.settings.snapshotEvery > 0) {
      const snapIndex = st.snapshot().metadata.index;
      if (this.applied - snapIndex >= this.settings.snapshotEvery) {
        const data = this.kv.snapshot();
        st.createSnapshot(this.applied, this.confState, data);
        this.checker.onSnapshotCreate(this.id, this.applied, hashBytes(data));
        if (crashAt === "after-snapshot-create") return this.crashNow();
        const compactTo = this.applied - this.settings.keepEntries;
        if (compactTo >= st.firstIndex()) st.compact(compactTo);
      }
    }
    raw.advance(rd);
    return false;
  }

  private crashNow(): boolean {
    this.host.trace?.(`n${this.id} crashed mid-Ready`);
    this.crash();
    return true;
  }

  private applyEntry(e: Entry): void {
    this.checker.onApply(this.id, e);
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const raw = this.raw as RawNode;
      this.confState = raw.applyConfChange(cc);
      this.host.confChanged(this, cc, this.confState);
      return;
    }
    if (e.data.length === 0) return; // a new leader's no-op
    const out: ApplyOutcome = this.kv.apply(e.data, e.index);
    if (out.output === null) return;
    const key = `${out.clientId}:${out.seq}`;
    if (this.pendingWrites.has(key)) {
      this.pendingWrites.delete(key);
      this.host.reply(out.clientId, out.seq, out.output);
    }
  }

  private serveReads(): void {
    if (this.readyReads.length === 0) return;
    const still: { index: number; read: PendingRead }[] = [];
    for (const r of this.readyReads) {
      if (r.index <= this.applied) {
        this.host.reply(r.read.clientId, r.read.seq, {
          kind: "value",
          value: this.kv.read(r.read.key),
        });
      } else {
        still.push(r);
      }
    }
    this.readyReads = still;
  }
}
