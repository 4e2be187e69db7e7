import fs, { promises as fsp } from "node:fs";
import type { ConfState, Entry, HardState, Snapshot } from "@tessera/raft";
import { LogArgumentError, LogClosedError, LogFailedError } from "./errors.js";
import { fdatasync, fsyncDir, removeTempFiles, writeFullySync } from "./fsio.js";
import { acquireLock } from "./lock.js";
import { emptySnapshot, LogIndex, LogIndexReads } from "./log-index.js";
import type { LogBatch, RaftLog, WriteOptions } from "./raft-log.js";
import { SnapshotStore } from "./snapshot-store.js";
import {
  encodedEntriesSize,
  encodeEntriesInto,
  encodeHardState,
  encodeSnapshotMark,
} from "./wal/payloads.js";
import { type RecoveredWal, recoverWal, type SegmentInfo, type TornTail } from "./wal/recovery.js";
import { createSegment, listSegments, SEGMENT_HEADER_BYTES } from "./wal/segment.js";

export interface DurableLogOptions {
  /** A segment is closed and a new one started once it reaches this size. Default 64 MiB. */
  readonly segmentBytes?: number;
  /**
   * Membership of a fresh cluster, persisted as a snapshot at index 0 when the directory holds
   * no snapshot and no WAL yet (like MemoryStorage's constructor). Ignored when state exists:
   * membership then comes from the snapshot and the log.
   */
  readonly bootstrap?: ConfState;
}

/** What open() found and repaired. */
export interface RecoveryReport {
  readonly segments: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  /** A torn tail that was cut off the last segment, if any. */
  readonly tornTail?: TornTail;
}

/** Work for the writer loop, in call order. */
type Pending =
  | { kind: "records"; bufs: Buffer[]; hardState: HardState | undefined; maxIndex: number }
  | { kind: "install"; snapshot: Snapshot };

interface Waiter {
  readonly sync: boolean;
  resolve(): void;
  reject(e: unknown): void;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

/**
 * The durable Raft log: a segmented write-ahead log plus a snapshot file, around the in-memory
 * LogIndex that serves the core's synchronous reads.
 *
 * Writes are applied to the in-memory view at once and queued as encoded records. One writer
 * loop drains the queue: it writes everything queued (one write() per batch), then one
 * fdatasync, then resolves every caller whose records that covered (group commit: callers that
 * arrive during an fsync share the next one). If a write or fsync fails, the log refuses all
 * further work (LogFailedError): after a failed fsync the kernel may have dropped the dirty
 * pages, so the only safe continuation is to reopen and recover from what is on disk.
 */
export class DurableLog extends LogIndexReads implements RaftLog {
  private queue: Pending[] = [];
  private waiters: Waiter[] = [];
  private running = false;
  private failure: LogFailedError | undefined;
  private closed = false;
  /** The hard state as of the last record handed to the file: each new segment starts with it. */
  private writtenHardState: HardState | undefined;
  private fsyncs = 0;
  /**
   * Snapshot files and segment deletion run on their own chain, beside the WAL writer: a large
   * state-machine image being written must not stall log fsyncs. The chain serializes them.
   */
  private maintenance: Promise<unknown> = Promise.resolve();
  private durableSnapshotIndex: number;

  private constructor(
    private readonly dir: string,
    private readonly walDir: string,
    private readonly segmentBytes: number,
    index: LogIndex,
    private readonly snapshots: SnapshotStore,
    private readonly segments: SegmentInfo[],
    private fd: number,
    private size: number,
    private readonly releaseLock: () => Promise<void>,
    readonly recovery: RecoveryReport,
  ) {
    super(index);
    this.writtenHardState = index.hardState();
    this.durableSnapshotIndex = index.snapshot().metadata.index;
  }

  /** Opens (creating if needed) the log in `dir`, recovering whatever a crash left there. */
  static async open(dir: string, options: DurableLogOptions = {}): Promise<DurableLog> {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 4096) {
      throw new LogArgumentError(
        "segmentBytes",
        `must be an integer >= 4096, got ${String(segmentBytes)}`,
      );
    }
    if (typeof dir !== "string" || dir === "")
      throw new LogArgumentError("dir", "must be a non-empty path");
    await fsp.mkdir(dir, { recursive: true });
    const releaseLock = await acquireLock(dir);
    try {
      const walDir = `${dir}/wal`;
      await fsp.mkdir(walDir, { recursive: true });
      await removeTempFiles(walDir);
      const snapshots = new SnapshotStore(`${dir}/snap`);
      let snapshot = await snapshots.open();
      const fresh = (await listSegments(walDir)).length === 0;
      if (snapshot === undefined && fresh && options.bootstrap !== undefined) {
        snapshot = emptySnapshot(options.bootstrap);
        await snapshots.save(snapshot);
      }
      snapshot ??= emptySnapshot({ voters: [], learners: [], votersOutgoing: [] });
      const wal: RecoveredWal = await recoverWal(walDir, snapshot);
      const index = LogIndex.restore(
        snapshot,
        wal.hardState ?? { term: 0, vote: 0, commit: 0 },
        wal.entries,
      );
      const segments = wal.segments;
      let size = wal.lastSegmentSize;
      if (segments.length === 0) {
        const path = await createSegment(walDir, 1);
        segments.push({ seq: 1, path, maxIndex: 0 });
        size = SEGMENT_HEADER_BYTES;
      }
      const fd = fs.openSync(segments[segments.length - 1]!.path, "r+");
      const report: RecoveryReport = {
        segments: segments.length,
        firstIndex: index.firstIndex(),
        lastIndex: index.lastIndex(),
        snapshotIndex: snapshot.metadata.index,
        ...(wal.tornTail ? { tornTail: wal.tornTail } : {}),
      };
      await fsyncDir(dir);
      return new DurableLog(
        dir,
        walDir,
        segmentBytes,
        index,
        snapshots,
        segments,
        fd,
        size,
        releaseLock,
        report,
      );
    } catch (e) {
      await releaseLock();
      throw e;
    }
  }

  // ---- writes ----

  write(batch: LogBatch, options: WriteOptions = {}): Promise<void> {
    try {
      this.usable();
      if (batch.snapshot) this.applySnapshot(batch.snapshot);
      if (batch.entries && batch.entries.length > 0) this.append(batch.entries);
      if (batch.hardState) this.setHardState(batch.hardState);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!(options.sync ?? true) && !batch.snapshot) {
      // Nothing to wait for: no durability was asked, the in-memory view already has the
      // change, and the queue keeps its records in order ahead of any later fsync. Waiting
      // would put, e.g., a commit-index-only Ready behind the fsync of the next batch of
      // entries and make every commit wait for the following one under load. (A snapshot
      // install still waits: its file must be written before the log that follows it.)
      this.startWriter();
      return Promise.resolve();
    }
    return this.waitForWriter(options.sync ?? true);
  }

  append(entries: readonly Entry[]): void {
    this.usable();
    const stored = this.index.append(entries);
    if (stored.length === 0) return;
    const buf = Buffer.allocUnsafe(encodedEntriesSize(stored));
    encodeEntriesInto(buf, 0, stored);
    this.enqueueRecords(buf, undefined, stored[stored.length - 1]!.index);
  }

  setHardState(hs: HardState): void {
    this.usable();
    this.index.setHardState(hs);
    const stored = this.index.hardState();
    this.enqueueRecords(encodeHardState(stored), stored, 0);
  }

  applySnapshot(snapshot: Snapshot): void {
    this.usable();
    this.index.applySnapshot(snapshot);
    // The file must be durable before the WAL says the log restarts after it: the writer
    // loop saves it first, then logs the mark, in queue order.
    this.queue.push({ kind: "install", snapshot });
  }

  sync(): Promise<void> {
    try {
      this.usable();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.waitForWriter(true);
  }

  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    this.usable();
    const snapshot = this.index.prepareSnapshot(index, confState, data);
    await this.saveSnapshotFile(snapshot);
    // Visible only once durable, so compact() never relies on a snapshot a crash could lose.
    // A newer snapshot installed meanwhile wins.
    if (snapshot.metadata.index > this.index.snapshot().metadata.index)
      this.index.setSnapshot(snapshot);
    return snapshot;
  }

  async compact(index: number): Promise<void> {
    this.usable();
    this.index.compact(index);
    // A snapshot installed from the leader is visible before its file is durable; wait for it.
    if (index > this.durableSnapshotIndex) await this.sync();
    await this.onMaintenanceChain(() => this.deleteSegmentsBelow(index));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      if (this.failure === undefined) await this.waitForWriter(true);
      await this.maintenance.catch(() => {});
    } finally {
      this.closed = true;
      fs.closeSync(this.fd);
      await this.releaseLock();
    }
  }

  /** Counters for metrics (and tests): segment files held, fsyncs issued for log writes. */
  stats(): { segments: number; fsyncs: number } {
    return { segments: this.segments.length, fsyncs: this.fsyncs };
  }

  private usable(): void {
    if (this.closed) throw new LogClosedError();
    if (this.failure) throw this.failure;
  }

  private enqueueRecords(buf: Buffer, hardState: HardState | undefined, maxIndex: number): void {
    const tail = this.queue[this.queue.length - 1];
    if (tail?.kind === "records") {
      tail.bufs.push(buf);
      if (hardState) tail.hardState = hardState;
      tail.maxIndex = Math.max(tail.maxIndex, maxIndex);
    } else {
      this.queue.push({ kind: "records", bufs: [buf], hardState, maxIndex });
    }
  }

  private waitForWriter(sync: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ sync, resolve, reject });
      if (!this.running) {
        this.running = true;
        void this.runWriter();
      }
    });
  }

  /** Gets queued records written without anyone waiting (a failure still fails the log). */
  private startWriter(): void {
    void this.waitForWriter(false).catch(() => undefined);
  }

  /** Drains the queue until no caller waits: write all, fsync once, resolve all. */
  private async runWriter(): Promise<void> {
    let round: Waiter[] = [];
    try {
      while (this.waiters.length > 0) {
        round = this.waiters;
        this.waiters = [];
        const items = this.queue;
        this.queue = [];
        for (const item of items) await this.writeItem(item);
        if (round.some((w) => w.sync)) {
          await fdatasync(this.fd);
          this.fsyncs++;
        }
        for (const w of round) w.resolve();
        round = [];
      }
    } catch (e) {
      this.failure = new LogFailedError(e);
      this.queue = [];
      for (const w of [...round, ...this.waiters.splice(0)]) w.reject(this.failure);
    } finally {
      this.running = false;
    }
  }

  private async writeItem(item: Pending): Promise<void> {
    switch (item.kind) {
      case "records":
        await this.writeRecords(
          item.bufs.length === 1 ? item.bufs[0]! : Buffer.concat(item.bufs),
          item.maxIndex,
        );
        if (item.hardState) this.writtenHardState = item.hardState;
        return;
      case "install": {
        // The file first: the mark must never name a snapshot a crash could lose.
        await this.saveSnapshotFile(item.snapshot);
        const { index, term } = item.snapshot.metadata;
        await this.writeRecords(encodeSnapshotMark({ index, term }), index);
        return;
      }
    }
  }

  private async writeRecords(buf: Buffer, maxIndex: number): Promise<void> {
    if (this.size >= this.segmentBytes) await this.roll();
    writeFullySync(this.fd, buf, this.size);
    this.size += buf.length;
    const active = this.segments[this.segments.length - 1]!;
    active.maxIndex = Math.max(active.maxIndex, maxIndex);
  }

  /**
   * Starts the next segment. The current one is fsynced first: only the last segment may end in
   * a torn record, which is what lets recovery call a bad record in an older one corruption.
   * The new segment begins with the current hard state so that deleting older segments never
   * loses it.
   */
  private async roll(): Promise<void> {
    await fdatasync(this.fd);
    const seq = this.segments[this.segments.length - 1]!.seq + 1;
    const path = await createSegment(this.walDir, seq);
    fs.closeSync(this.fd);
    this.fd = fs.openSync(path, "r+");
    this.segments.push({ seq, path, maxIndex: 0 });
    this.size = SEGMENT_HEADER_BYTES;
    if (this.writtenHardState !== undefined) {
      const hs = encodeHardState(this.writtenHardState);
      writeFullySync(this.fd, hs, this.size);
      this.size += hs.length;
    }
  }

  private saveSnapshotFile(snapshot: Snapshot): Promise<void> {
    return this.onMaintenanceChain(async () => {
      await this.snapshots.save(snapshot);
      this.durableSnapshotIndex = Math.max(this.durableSnapshotIndex, snapshot.metadata.index);
    });
  }

  private onMaintenanceChain<T>(task: () => Promise<T>): Promise<T> {
    const run = this.maintenance.then(task);
    this.maintenance = run.catch(() => {});
    return run;
  }

  /**
   * Deletes the oldest segments while every record in them is at or below `index` (never the
   * one being written). A segment leaves the list only once unlinked, so a failed unlink is
   * retried by the next compaction; an extra old segment is harmless to recovery.
   */
  private async deleteSegmentsBelow(index: number): Promise<void> {
    let removed = 0;
    while (this.segments.length > 1 && this.segments[0]!.maxIndex <= index) {
      await fsp.rm(this.segments[0]!.path, { force: true });
      this.segments.shift();
      removed++;
    }
    if (removed > 0) await fsyncDir(this.walDir);
  }

  /** The directory this log lives in. */
  get path(): string {
    return this.dir;
  }
}
