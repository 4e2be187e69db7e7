import type { ConfState, Entry, HardState, Snapshot } from "./types.js";

/**
 * The read side of the log that the Raft core consults (etcd-io/raft's Storage).
 *
 * The core never writes through this interface: it hands entries, hard state and snapshots to
 * the host in a Ready, the host persists them (libs/raft-storage, or MemoryStorage in tests)
 * and only then calls advance(). Calls are synchronous because the core is a pure state machine;
 * a durable implementation serves them from its in-memory index and page cache.
 */
export interface RaftStorage {
  /** Persisted hard state and membership at start-up. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi). maxBytes limits the total data size, but at least one entry is
   * returned when any is available. Throws CompactedError if lo <= the snapshot index.
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** Term of the entry at index (firstIndex-1 answers with the snapshot's term). */
  term(index: number): number;
  /** Index of the first entry still held (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry held (snapshot index when the log is empty). */
  lastIndex(): number;
  /** The most recent snapshot. Throws SnapshotTemporarilyUnavailableError if being built. */
  snapshot(): Snapshot;
}

export class CompactedError extends Error {
  readonly code = "TESSERA_E_RAFT_COMPACTED";
  constructor(
    readonly index: number,
    readonly firstIndex: number,
  ) {
    super(`log index ${index} is compacted (first available index is ${firstIndex})`);
    this.name = "CompactedError";
  }
}

export class UnavailableError extends Error {
  readonly code = "TESSERA_E_RAFT_UNAVAILABLE";
  constructor(
    readonly index: number,
    readonly lastIndex: number,
  ) {
    super(`log index ${index} is beyond the last index ${lastIndex}`);
    this.name = "UnavailableError";
  }
}

export class SnapshotTemporarilyUnavailableError extends Error {
  readonly code = "TESSERA_E_RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE";
  constructor() {
    super("snapshot is temporarily unavailable");
    this.name = "SnapshotTemporarilyUnavailableError";
  }
}
