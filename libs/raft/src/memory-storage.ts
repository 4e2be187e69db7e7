import { RaftInvariantError, SnapshotOutOfDateError } from "./errors.js";
import { CompactedError, type RaftStorage, UnavailableError } from "./storage.js";
import {
  type ConfState,
  EMPTY_CONF_STATE,
  EMPTY_HARD_STATE,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
} from "./types.js";
import { limitSize } from "./util.js";

const EMPTY = new Uint8Array(0);

/**
 * An in-memory RaftStorage (etcd-io/raft's MemoryStorage), for tests and simulation. The host
 * writes what a Ready hands it (append, setHardState, applySnapshot) before calling advance.
 *
 * Layout: ents[0] is a dummy entry holding the snapshot's index and term, so ents[i] has
 * index ents[0].index + i and term lookups at the snapshot boundary need no special case.
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot;
  private ents: Entry[];

  /**
   * @param confState initial membership. A fresh cluster with voters [1,2,3] starts every
   * node with `new MemoryStorage({ voters: [1, 2, 3], learners: [], votersOutgoing: [] })`:
   * an empty log whose "snapshot" at index 0 carries the initial configuration. A node that
   * will be added later starts with the default empty configuration and learns it from the
   * leader's snapshot.
   */
  constructor(confState: ConfState = EMPTY_CONF_STATE) {
    this.snap = { metadata: { index: 0, term: 0, confState }, data: EMPTY };
    this.ents = [{ index: 0, term: 0, type: EntryType.Normal, data: EMPTY }];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  private get offset(): number {
    return this.ents[0]!.index;
  }

  entries(lo: number, hi: number, maxBytes = Number.MAX_SAFE_INTEGER): Entry[] {
    const offset = this.offset;
    if (lo <= offset) throw new CompactedError(lo, offset + 1);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    if (lo >= hi) return [];
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  term(index: number): number {
    const offset = this.offset;
    if (index < offset) throw new CompactedError(index, offset + 1);
    const e = this.ents[index - offset];
    if (e === undefined) throw new UnavailableError(index, this.lastIndex());
    return e.term;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    const cur = this.snap.metadata.index;
    if (snap.metadata.index <= cur) throw new SnapshotOutOfDateError(snap.metadata.index, cur);
    this.snap = snap;
    this.ents = [
      { index: snap.metadata.index, term: snap.metadata.term, type: EntryType.Normal, data: EMPTY },
    ];
  }

  /**
   * Records a snapshot of the host's state machine as of `index` (which must be applied);
   * call compact() afterwards to drop the entries it covers.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    const cur = this.snap.metadata.index;
    if (index <= cur) throw new SnapshotOutOfDateError(index, cur);
    const last = this.lastIndex();
    if (index > last) throw new UnavailableError(index, last);
    this.snap = { metadata: { index, term: this.term(index), confState }, data };
    return this.snap;
  }

  /** Discards entries up to and including compactIndex (which must be <= lastIndex). */
  compact(compactIndex: number): void {
    const offset = this.offset;
    if (compactIndex <= offset) throw new CompactedError(compactIndex, offset + 1);
    const last = this.lastIndex();
    if (compactIndex > last) throw new UnavailableError(compactIndex, last);
    const i = compactIndex - offset;
    const head = this.ents[i]!;
    const rest = this.ents.slice(i + 1);
    rest.unshift({ index: head.index, term: head.term, type: EntryType.Normal, data: EMPTY });
    this.ents = rest;
  }

  /**
   * Appends entries handed out by a Ready. Entries that conflict with the stored suffix replace
   * it (the core only does this for uncommitted entries); entries already compacted are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const lastNew = entries[entries.length - 1]!.index;
    if (lastNew < first) return;
    let src = entries;
    if (first > entries[0]!.index) src = entries.slice(first - entries[0]!.index);
    const offset = src[0]!.index - this.offset;
    if (offset > this.ents.length) {
      throw new RaftInvariantError(
        `missing log entries: last stored ${this.lastIndex()}, appending from ${src[0]!.index}`,
      );
    }
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of src) this.ents.push(e);
  }
}
