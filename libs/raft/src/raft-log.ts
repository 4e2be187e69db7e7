import { RaftInvariantError } from "./errors.js";
import { CompactedError, type RaftStorage, UnavailableError } from "./storage.js";
import type { Entry, Snapshot } from "./types.js";
import { Unstable } from "./unstable.js";
import { limitSize } from "./util.js";

/**
 * The node's view of the log (etcd's raftLog): the host's stable storage followed by the
 * unstable suffix the host has not yet persisted.
 *
 * Invariants, each enforced with a RaftInvariantError:
 * - applied <= committed <= lastIndex
 * - committed never decreases
 * - an entry at or below committed is never truncated or replaced
 */
export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  /** Highest index the host has applied (confirmed by advance). */
  applied: number;
  /** Highest index handed to the host in a Ready's committedEntries. */
  applying: number;

  constructor(
    readonly storage: RaftStorage,
    private readonly maxCommittedSize: number,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    if (t === undefined)
      throw new RaftInvariantError(`term of the last index ${this.lastIndex()} is unavailable`);
    return t;
  }

  /** Term of entry i, or undefined when i is compacted or beyond the last index. */
  term(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return undefined;
      throw e;
    }
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /**
   * Raft §5.4.1: a candidate's log is at least as up-to-date as ours if its last term is
   * greater, or equal with an index at least as large.
   */
  isUpToDate(lasti: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lasti >= this.lastIndex());
  }

  /**
   * The follower side of AppendEntries: if our log has (index, logTerm), append ents (after
   * dropping those we already have) and advance commit. Returns the new last index of the
   * appended range, or undefined if the consistency check failed.
   */
  maybeAppend(
    index: number,
    logTerm: number,
    committed: number,
    ents: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftInvariantError(
          `entry ${ci} conflicts with a committed entry (committed ${this.committed})`,
        );
      }
      const off = index + 1;
      this.append(ci - off === 0 ? ents : ents.slice(ci - off));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries to the unstable log (replacing a conflicting uncommitted suffix). */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    if (after < this.committed) {
      throw new RaftInvariantError(
        `append after ${after} would truncate committed entries (committed ${this.committed})`,
      );
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry in ents that is new or conflicts with ours (different term at
   * the same index), or 0 if we already have them all.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking (dissertation §5.3, etcd's findConflictByTerm): the largest index <= index
   * whose term is <= term, and that term. Everything above it in our log cannot match a log whose
   * entry at `index` has term `term`, so the leader can skip a whole term per round trip.
   * Returns term 0 when the index is compacted (the caller then falls back to a snapshot/probe).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = index;
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries.length === 0 ? [] : this.unstable.entries.slice();
  }

  /** Committed entries not yet handed to the host for application. */
  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, this.maxCommittedSize);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  commitTo(toCommit: number): void {
    if (this.committed >= toCommit) return; // never decreases
    if (toCommit > this.lastIndex()) {
      throw new RaftInvariantError(
        `commit ${toCommit} is beyond the last index ${this.lastIndex()}`,
      );
    }
    this.committed = toCommit;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (i > this.committed || i < this.applied) {
      throw new RaftInvariantError(
        `applied ${i} outside [applied ${this.applied}, committed ${this.committed}]`,
      );
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Leader: commit maxIndex only if it is from the current term (§5.4.2, Figure 8). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /**
   * Entries from i to the end, at most maxSize bytes (at least one). Throws CompactedError when
   * i is compacted (the caller then sends a snapshot).
   */
  entriesFrom(i: number, maxSize: number): Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, last + 1, maxSize);
  }

  /** Entries [lo, hi) from storage and/or unstable, at most maxSize bytes (at least one). */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    const last = this.lastIndex();
    if (hi > last + 1) throw new RaftInvariantError(`slice[${lo},${hi}) beyond last index ${last}`);
    if (lo === hi) return [];
    const uo = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < uo) {
      const stored = this.storage.entries(lo, Math.min(hi, uo), maxSize);
      // Storage stopped early because of the size limit: do not add unstable entries after it.
      if (stored.length < Math.min(hi, uo) - lo) return stored;
      ents = stored;
    }
    if (hi > uo) {
      const u = this.unstable.slice(Math.max(lo, uo), hi);
      ents = ents.length === 0 ? u : ents.concat(u);
    }
    return limitSize(ents, maxSize);
  }
}
