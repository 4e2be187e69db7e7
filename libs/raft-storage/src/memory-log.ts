import type { ConfState, Entry, HardState, Snapshot } from "@tessera/raft";
import { LogClosedError } from "./errors.js";
import { emptySnapshot, LogIndex, LogIndexReads } from "./log-index.js";
import type { LogBatch, RaftLog, WriteOptions } from "./raft-log.js";

/**
 * A RaftLog that lives only in memory, for tests and simulation: the same API, validation and
 * truncation rules as DurableLog, without files. A "crash" is modelled by the test keeping or
 * discarding the object.
 */
export class MemoryLog extends LogIndexReads implements RaftLog {
  private closed = false;

  /** `confState` is the initial membership of a fresh cluster (a snapshot at index 0). */
  constructor(confState?: ConfState) {
    super(new LogIndex(confState ? emptySnapshot(confState) : undefined));
  }

  async write(batch: LogBatch, _options?: WriteOptions): Promise<void> {
    this.open();
    if (batch.snapshot) this.index.applySnapshot(batch.snapshot);
    if (batch.entries) this.index.append(batch.entries);
    if (batch.hardState) this.index.setHardState(batch.hardState);
  }
  append(entries: readonly Entry[]): void {
    this.open();
    this.index.append(entries);
  }
  setHardState(hs: HardState): void {
    this.open();
    this.index.setHardState(hs);
  }
  applySnapshot(snapshot: Snapshot): void {
    this.open();
    this.index.applySnapshot(snapshot);
  }
  async sync(): Promise<void> {
    this.open();
  }
  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    this.open();
    const snap = this.index.prepareSnapshot(index, confState, data);
    this.index.setSnapshot(snap);
    return snap;
  }
  async compact(index: number): Promise<void> {
    this.open();
    this.index.compact(index);
  }
  async close(): Promise<void> {
    this.closed = true;
  }

  private open(): void {
    if (this.closed) throw new LogClosedError();
  }
}
