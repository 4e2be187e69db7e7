import { RaftInvariantError } from "./errors.js";
import type { Entry, Snapshot } from "./types.js";

/**
 * Entries (and at most one incoming snapshot) not yet persisted by the host (etcd's unstable).
 * entries[i] has index offset + i. The array handed to the host in a Ready is always a copy or
 * a fresh slice, so later appends never mutate what the host is writing.
 */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];

  constructor(public offset: number) {}

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot && this.snapshot.metadata.index === i) return this.snapshot.metadata.term;
      return undefined;
    }
    const e = this.entries[i - this.offset];
    return e?.term;
  }

  /** The host persisted entries up to (i, t). Ignored if they were replaced meanwhile. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined || gt !== t || i < this.offset) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot && this.snapshot.metadata.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0]!.index;
    const end = this.offset + this.entries.length;
    if (after === end) {
      // The common case: a plain append.
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replace everything unstable; the storage suffix is replaced when the host appends.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      // Keep [offset, after) and replace the rest. Copy so a Ready already handed out is untouched.
      const kept = this.entries.slice(0, after - this.offset);
      for (const e of ents) kept.push(e);
      this.entries = kept;
    }
  }

  /** Entries [lo, hi), which must be within the unstable range. */
  slice(lo: number, hi: number): Entry[] {
    const upper = this.offset + this.entries.length;
    if (lo > hi || lo < this.offset || hi > upper) {
      throw new RaftInvariantError(
        `unstable.slice[${lo},${hi}) out of bounds [${this.offset},${upper}]`,
      );
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
