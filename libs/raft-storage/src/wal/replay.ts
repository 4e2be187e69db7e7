import type { Entry, HardState, Snapshot } from "@tessera/raft";
import { WalCorruptionError } from "../errors.js";
import { decodeEntry, decodeHardState, decodeSnapshotMark } from "./payloads.js";
import { RecordType } from "./record.js";
import type { ScannedRecord } from "./scan.js";

/**
 * Rebuilds the log from WAL records on top of the newest snapshot (pure; no I/O).
 *
 * - Entry: an index at or below the snapshot is already covered and skipped; an index at or
 *   below the current last index truncates the suffix first (the writer logged a conflicting
 *   append); an index beyond last + 1 is a gap, and a term below its predecessor's is a
 *   regression: both mean corruption.
 * - HardState: the last one wins.
 * - SnapshotInstalled: the log restarted after a snapshot from the leader; every entry before
 *   the mark is obsolete. The mark can never be newer than the newest snapshot file, because the
 *   file is made durable before the mark is written.
 */
export class Replayer {
  private readonly snapIndex: number;
  private readonly snapTerm: number;
  private ents: Entry[] = [];
  private hs: HardState | undefined;

  constructor(snapshot: Snapshot) {
    this.snapIndex = snapshot.metadata.index;
    this.snapTerm = snapshot.metadata.term;
  }

  /** Applies one record; returns the highest log index it mentions (0 for hard state). */
  apply(r: ScannedRecord, file: string): number {
    const bad = (reason: string) => new WalCorruptionError(file, r.offset, reason);
    switch (r.type) {
      case RecordType.Entry: {
        const e = decodeEntry(r.payload);
        if (typeof e === "string") throw bad(e);
        if (e.index <= this.snapIndex) return e.index;
        const next = this.snapIndex + this.ents.length + 1;
        if (e.index > next)
          throw bad(`log index gap: expected an index <= ${next}, found ${e.index}`);
        this.ents.length = e.index - this.snapIndex - 1;
        const prev = this.ents[this.ents.length - 1];
        if (prev !== undefined && e.term < prev.term) {
          throw bad(`term regression: entry ${e.index} has term ${e.term} after term ${prev.term}`);
        }
        this.ents.push(e);
        return e.index;
      }
      case RecordType.HardState: {
        const hs = decodeHardState(r.payload);
        if (typeof hs === "string") throw bad(hs);
        this.hs = hs;
        return 0;
      }
      case RecordType.SnapshotInstalled: {
        const m = decodeSnapshotMark(r.payload);
        if (typeof m === "string") throw bad(m);
        if (m.index > this.snapIndex) {
          throw bad(
            `marks a snapshot at index ${m.index} but the newest snapshot file is at ${this.snapIndex}`,
          );
        }
        if (m.index === this.snapIndex && m.term !== this.snapTerm) {
          throw bad(
            `marks a snapshot at term ${m.term} but the snapshot file has term ${this.snapTerm}`,
          );
        }
        this.ents = [];
        return m.index;
      }
    }
  }

  /**
   * The recovered entries and hard state. Entries whose first term is below the snapshot's term
   * came from a history the leader's snapshot replaced (a crash between making the snapshot file
   * durable and logging its mark): they conflict with the snapshot and are dropped. The commit
   * index is raised to the snapshot index, which is committed by definition.
   */
  finish(walDir: string): { entries: Entry[]; hardState: HardState | undefined } {
    const first = this.ents[0];
    if (first !== undefined && first.term < this.snapTerm) this.ents = [];
    let hs = this.hs;
    if (hs !== undefined || this.snapIndex > 0) {
      const base = hs ?? { term: this.snapTerm, vote: 0, commit: 0 };
      hs = { term: base.term, vote: base.vote, commit: Math.max(base.commit, this.snapIndex) };
      const last = this.snapIndex + this.ents.length;
      if (hs.commit > last) {
        throw new WalCorruptionError(
          walDir,
          0,
          `hard state commit ${hs.commit} is beyond the last log index ${last}`,
        );
      }
    }
    return { entries: this.ents, hardState: hs };
  }
}
