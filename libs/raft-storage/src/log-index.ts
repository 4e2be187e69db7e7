import {
  CompactedError,
  type ConfState,
  EMPTY_CONF_STATE,
  EMPTY_HARD_STATE,
  type Entry,
  type HardState,
  type RaftStorage,
  type Snapshot,
  UnavailableError,
} from "@tessera/raft";
import { LogArgumentError, SnapshotOutOfDateError } from "./errors.js";
import { checkConfState, checkEntries, checkHardState, checkSnapshot } from "./validate.js";

/**
 * The in-memory view of a Raft log: the pure core of both MemoryLog and DurableLog (which adds
 * the WAL around it). No I/O. Serves the synchronous RaftStorage reads the core makes.
 *
 * Held: the latest snapshot; the compaction point (offsetIndex, offsetTerm): every entry at or
 * below it is gone; entries offsetIndex+1 .. lastIndex in `ents`; the hard state.
 */
export class LogIndex implements RaftStorage {
  private hs: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  private offsetIndex: number;
  private offsetTerm: number;
  private ents: Entry[] = [];

  constructor(snapshot?: Snapshot) {
    this.snap = snapshot ?? emptySnapshot(EMPTY_CONF_STATE);
    this.offsetIndex = this.snap.metadata.index;
    this.offsetTerm = this.snap.metadata.term;
  }

  /** Rebuilds the view from recovered state; `entries` must start at snapshot index + 1. */
  static restore(snapshot: Snapshot, hardState: HardState, entries: Entry[]): LogIndex {
    const li = new LogIndex(snapshot);
    li.hs = hardState;
    li.ents = entries;
    return li;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hs, confState: this.snap.metadata.confState };
  }

  hardState(): HardState {
    return this.hs;
  }

  entries(lo: number, hi: number, maxBytes = Number.MAX_SAFE_INTEGER): Entry[] {
    if (lo <= this.offsetIndex) throw new CompactedError(lo, this.offsetIndex + 1);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    if (lo >= hi) return [];
    const start = lo - this.offsetIndex - 1;
    const out: Entry[] = [this.ents[start]!];
    let size = this.ents[start]!.data.length;
    for (let i = start + 1; i < hi - this.offsetIndex - 1; i++) {
      const e = this.ents[i]!;
      size += e.data.length;
      if (size > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(index: number): number {
    if (index === this.offsetIndex) return this.offsetTerm;
    if (index < this.offsetIndex) throw new CompactedError(index, this.offsetIndex + 1);
    const e = this.ents[index - this.offsetIndex - 1];
    if (e === undefined) throw new UnavailableError(index, this.lastIndex());
    return e.term;
  }

  firstIndex(): number {
    return this.offsetIndex + 1;
  }

  lastIndex(): number {
    return this.offsetIndex + this.ents.length;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Appends entries from a Ready. An entry at an index already held replaces it and everything
   * after it (truncation on conflict; the core only rewrites uncommitted entries). Entries at or
   * below the compaction point are skipped. Returns the entries actually stored.
   */
  append(entries: readonly Entry[]): readonly Entry[] {
    checkEntries(entries);
    if (entries.length === 0) return entries;
    const first = entries[0]!.index;
    const last = this.lastIndex();
    if (first > last + 1) {
      throw new LogArgumentError(
        "entries[0].index",
        `leaves a gap: last index is ${last}, got ${first}`,
      );
    }
    const src = first <= this.offsetIndex ? entries.slice(this.offsetIndex + 1 - first) : entries;
    if (src.length === 0) return src;
    const from = src[0]!.index;
    const prevTerm = this.term(from - 1);
    if (src[0]!.term < prevTerm) {
      throw new LogArgumentError(
        "entries[0].term",
        `must not be below the term ${prevTerm} of the entry before it, got ${src[0]!.term}`,
      );
    }
    this.ents.length = from - this.offsetIndex - 1;
    for (const e of src) this.ents.push(e);
    return src;
  }

  setHardState(hs: HardState): void {
    checkHardState(hs);
    if (hs.term < this.hs.term) {
      throw new LogArgumentError(
        "hardState.term",
        `must not decrease from ${this.hs.term}, got ${hs.term}`,
      );
    }
    if (hs.commit > this.lastIndex()) {
      throw new LogArgumentError(
        "hardState.commit",
        `${hs.commit} is beyond the last index ${this.lastIndex()}; persist entries first`,
      );
    }
    this.hs = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /** Replaces the whole log with a snapshot received from the leader (etcd's ApplySnapshot). */
  applySnapshot(snap: Snapshot): void {
    checkSnapshot(snap);
    const cur = this.snap.metadata.index;
    if (snap.metadata.index <= cur) throw new SnapshotOutOfDateError(snap.metadata.index, cur);
    this.snap = snap;
    this.offsetIndex = snap.metadata.index;
    this.offsetTerm = snap.metadata.term;
    this.ents = [];
  }

  /**
   * Validates a snapshot of the host's state machine as of `index` (an entry still held, or
   * the compaction point) and returns it; setSnapshot() records it once it is durable.
   */
  prepareSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new LogArgumentError(
        "index",
        `must be a non-negative safe integer, got ${String(index)}`,
      );
    }
    checkConfState(confState);
    if (!(data instanceof Uint8Array)) throw new LogArgumentError("data", "must be a Uint8Array");
    const cur = this.snap.metadata.index;
    if (index <= cur) throw new SnapshotOutOfDateError(index, cur);
    const term = this.term(index);
    return { metadata: { index, term, confState }, data };
  }

  setSnapshot(snap: Snapshot): void {
    this.snap = snap;
  }

  /**
   * Drops entries up to and including `index`, which must be covered by the snapshot (otherwise
   * those entries would exist nowhere). Compacting to or below the compaction point is a no-op.
   */
  compact(index: number): void {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new LogArgumentError(
        "index",
        `must be a non-negative safe integer, got ${String(index)}`,
      );
    }
    if (index > this.snap.metadata.index) {
      throw new LogArgumentError(
        "index",
        `${index} is beyond the snapshot index ${this.snap.metadata.index}; snapshot first`,
      );
    }
    if (index <= this.offsetIndex) return;
    this.offsetTerm = this.term(index);
    this.ents = this.ents.slice(index - this.offsetIndex);
    this.offsetIndex = index;
  }
}

export function emptySnapshot(confState: ConfState): Snapshot {
  return { metadata: { index: 0, term: 0, confState }, data: new Uint8Array(0) };
}

/**
 * The synchronous RaftStorage reads both logs serve from their in-memory LogIndex: the core
 * consults memory, never the disk, so DurableLog and MemoryLog answer reads identically.
 */
export abstract class LogIndexReads implements RaftStorage {
  protected constructor(protected readonly index: LogIndex) {}

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.index.initialState();
  }
  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    return this.index.entries(lo, hi, maxBytes);
  }
  term(index: number): number {
    return this.index.term(index);
  }
  firstIndex(): number {
    return this.index.firstIndex();
  }
  lastIndex(): number {
    return this.index.lastIndex();
  }
  snapshot(): Snapshot {
    return this.index.snapshot();
  }
  hardState(): HardState {
    return this.index.hardState();
  }
}
