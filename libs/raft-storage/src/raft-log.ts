import type { ConfState, Entry, HardState, RaftStorage, Snapshot } from "@tessera/raft";

/** What one Ready asks the host to persist. Applied in the order snapshot, entries, hard state. */
export interface LogBatch {
  readonly snapshot?: Snapshot | undefined;
  readonly entries?: readonly Entry[] | undefined;
  readonly hardState?: HardState | undefined;
}

export interface WriteOptions {
  /**
   * Resolve only after fsync (default true). Pass Ready.mustSync. Without it the call resolves
   * at once: the records are queued in order, reach the OS before any later synced write
   * resolves, and a crash may lose them. (DurableLog still waits for a snapshot install.)
   */
  readonly sync?: boolean;
}

/**
 * A Raft log a host can both read (the RaftStorage the core consults) and write (what a Ready
 * hands out). Writes update the in-memory view at once, in call order, so the core sees its own
 * appends immediately; durability comes from sync() or write(…, { sync: true }).
 */
export interface RaftLog extends RaftStorage {
  /**
   * Persists a Ready's snapshot, entries and hard state as one batch; see WriteOptions. An
   * argument error (a host bug: a gap, a commit beyond the log) rejects the promise; parts of
   * the batch before the bad one stay applied.
   */
  write(batch: LogBatch, options?: WriteOptions): Promise<void>;
  /** Buffers entries (truncating a conflicting suffix first). Durable after the next sync(). */
  append(entries: readonly Entry[]): void;
  /** Buffers a hard state. Durable after the next sync(). */
  setHardState(hs: HardState): void;
  /** Buffers a snapshot from the leader, replacing the whole log. Durable after the next sync(). */
  applySnapshot(snapshot: Snapshot): void;
  /** Resolves once everything buffered before the call is durable. Callers share one fsync. */
  sync(): Promise<void>;
  /**
   * Durably records a snapshot of the host's state machine as of `index` (an applied entry);
   * the log is not shortened until compact().
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot>;
  /** Drops entries up to `index` (<= the snapshot index), deleting WAL segments wholly below it. */
  compact(index: number): Promise<void>;
  /** The current hard state (including writes not yet synced). */
  hardState(): HardState;
  /** Waits for pending writes, then releases the log. */
  close(): Promise<void>;
}
