import fs, { existsSync, readdirSync, writeFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { DurableLog } from "./durable-log.js";
import {
  LogClosedError,
  LogFailedError,
  LogLockedError,
  SnapshotCorruptionError,
} from "./errors.js";
import { SnapshotStore } from "./snapshot-store.js";
import { range, tempDir, text } from "./testing.test-helpers.js";

const CS = { voters: [1, 2, 3], learners: [], votersOutgoing: [] };

describe("DurableLog", () => {
  it("keeps synced entries, hard state and bootstrap membership across reopen", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir, { bootstrap: CS });
    await log.write({ entries: range(1, 20, 1), hardState: { term: 1, vote: 2, commit: 15 } });
    await log.close();
    const again = await DurableLog.open(dir);
    expect(again.initialState()).toEqual({
      hardState: { term: 1, vote: 2, commit: 15 },
      confState: CS,
    });
    expect(again.firstIndex()).toBe(1);
    expect(again.lastIndex()).toBe(20);
    expect(again.entries(1, 21).map(text)).toEqual(range(1, 20, 1).map(text));
    expect(again.recovery.tornTail).toBeUndefined();
    await again.close();
  });

  it("persists truncation on conflict: the replaced suffix does not come back", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir);
    await log.write({ entries: range(1, 10, 1) });
    await log.write({ entries: range(7, 8, 2), hardState: { term: 2, vote: 0, commit: 6 } });
    await log.write({ entries: range(9, 9, 2) });
    await log.close();
    const again = await DurableLog.open(dir);
    expect(again.lastIndex()).toBe(9);
    expect(again.entries(5, 10).map(text)).toEqual(
      [...range(5, 6, 1), ...range(7, 9, 2)].map(text),
    );
    await again.close();
  });

  it("rolls segments at the size limit and replays across them", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 40; i++) {
      await log.write({
        entries: range(i * 10 + 1, i * 10 + 10, 1),
        hardState: { term: 1, vote: 1, commit: i * 10 },
      });
    }
    expect(log.stats().segments).toBeGreaterThan(3);
    await log.close();
    expect(readdirSync(`${dir}/wal`).filter((f) => f.endsWith(".wal")).length).toBeGreaterThan(3);
    const again = await DurableLog.open(dir, { segmentBytes: 4096 });
    expect(again.lastIndex()).toBe(400);
    expect(again.entries(1, 401).map(text)).toEqual(range(1, 400, 1).map(text));
    expect(again.hardState()).toEqual({ term: 1, vote: 1, commit: 390 });
    await again.close();
  });

  it("group-commits: concurrent writers share fsyncs and all are durable", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir);
    const writes = [];
    for (let i = 1; i <= 64; i++) writes.push(log.write({ entries: range(i, i, 1) }));
    await Promise.all(writes);
    expect(log.stats().fsyncs).toBeLessThan(64);
    expect(log.stats().fsyncs).toBeGreaterThan(0);
    await log.close();
    const again = await DurableLog.open(dir);
    expect(again.lastIndex()).toBe(64);
    await again.close();
  });

  it("compaction deletes segments wholly below the snapshot; state survives reopen", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir, { segmentBytes: 4096, bootstrap: CS });
    // The only hard state record goes into the first segment, which compaction deletes.
    await log.write({ entries: range(1, 10, 2), hardState: { term: 2, vote: 3, commit: 10 } });
    for (let i = 1; i < 30; i++) await log.write({ entries: range(i * 10 + 1, i * 10 + 10, 2) });
    const before = log.stats().segments;
    const snap = await log.createSnapshot(250, CS, new TextEncoder().encode("image@250"));
    expect(snap.metadata).toEqual({ index: 250, term: 2, confState: CS });
    await log.compact(250);
    expect(log.firstIndex()).toBe(251);
    expect(log.stats().segments).toBeLessThan(before);
    await log.close();
    const again = await DurableLog.open(dir, { segmentBytes: 4096 });
    expect(again.firstIndex()).toBe(251);
    expect(again.lastIndex()).toBe(300);
    expect(again.term(250)).toBe(2);
    expect(new TextDecoder().decode(again.snapshot().data)).toBe("image@250");
    // Each new segment restates the hard state at its head, so deleting old ones keeps it;
    // commit is raised to the snapshot index, which is committed by definition.
    expect(again.hardState()).toEqual({ term: 2, vote: 3, commit: 250 });
    expect(readdirSync(`${dir}/snap`)).toEqual(["00000000000000fa-0000000000000002.snap"]);
    await again.close();
  });

  it("a snapshot from the leader replaces the log durably", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir, { bootstrap: CS });
    await log.write({ entries: range(1, 30, 1), hardState: { term: 1, vote: 1, commit: 10 } });
    const snapshot = {
      metadata: { index: 100, term: 3, confState: CS },
      data: new Uint8Array([7]),
    };
    await log.write({
      snapshot,
      entries: range(101, 102, 3),
      hardState: { term: 3, vote: 2, commit: 101 },
    });
    await log.close();
    const again = await DurableLog.open(dir);
    expect(again.firstIndex()).toBe(101);
    expect(again.lastIndex()).toBe(102);
    expect(again.term(100)).toBe(3);
    expect(again.hardState()).toEqual({ term: 3, vote: 2, commit: 101 });
    expect(again.snapshot().data).toEqual(new Uint8Array([7]));
    await again.close();
  });

  it("drops a suffix the leader's snapshot superseded when the crash came before the WAL mark", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir);
    await log.write({ entries: range(1, 10, 1), hardState: { term: 1, vote: 1, commit: 3 } });
    await log.close();
    // The snapshot file was made durable, then the process died before logging the mark.
    await new SnapshotStore(`${dir}/snap`).save({
      metadata: { index: 5, term: 2, confState: CS },
      data: new Uint8Array(),
    });
    const again = await DurableLog.open(dir);
    expect(again.firstIndex()).toBe(6);
    expect(again.lastIndex()).toBe(5);
    expect(again.hardState().commit).toBe(5);
    await again.close();
  });

  it("snapshot files are atomic: an interrupted temp file is ignored, a damaged file is refused", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir);
    await log.write({ entries: range(1, 10, 1) });
    await log.createSnapshot(5, CS, new TextEncoder().encode("five"));
    await log.close();
    writeFileSync(`${dir}/snap/0000000000000009-0000000000000001.snap.tmp`, "half a snapsh");
    const again = await DurableLog.open(dir);
    expect(new TextDecoder().decode(again.snapshot().data)).toBe("five");
    expect(existsSync(`${dir}/snap/0000000000000009-0000000000000001.snap.tmp`)).toBe(false);
    await again.close();
    const file = `${dir}/snap/0000000000000005-0000000000000001.snap`;
    const { readFileSync } = await import("node:fs");
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(file, bytes);
    await expect(DurableLog.open(dir)).rejects.toThrow(SnapshotCorruptionError);
  });

  it("allows one writer per directory and refuses work after close", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir);
    await expect(DurableLog.open(dir)).rejects.toThrow(LogLockedError);
    await log.close();
    expect(() => log.append(range(1, 1, 1))).toThrow(LogClosedError);
    await expect(log.write({ entries: range(1, 1, 1) })).rejects.toThrow(LogClosedError);
    const again = await DurableLog.open(dir);
    await again.close();
  });

  it("rejects bad options and bad writes with a typed error naming the field", async () => {
    await expect(DurableLog.open(tempDir(), { segmentBytes: 10 })).rejects.toMatchObject({
      code: "TESSERA_E_LOG_ARGUMENT",
      field: "segmentBytes",
    });
    const log = await DurableLog.open(tempDir());
    await expect(log.write({ hardState: { term: 1, vote: 0, commit: 5 } })).rejects.toMatchObject({
      field: "hardState.commit",
    });
    await log.close();
  });

  it("refuses all further work after a failed fsync (the disk state is unknown), until reopened", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir);
    await log.write({ entries: range(1, 5, 1) });
    const spy = vi.spyOn(fs, "fdatasync").mockImplementationOnce((_fd, cb) => {
      cb(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    });
    try {
      const a = log.write({ entries: range(6, 6, 1) });
      const b = log.write({ entries: range(7, 7, 1) });
      await expect(a).rejects.toThrow(LogFailedError);
      await expect(b).rejects.toThrow(LogFailedError);
      await expect(log.write({ entries: range(8, 8, 1) })).rejects.toMatchObject({
        code: "TESSERA_E_LOG_FAILED",
      });
      expect(() => log.append(range(8, 8, 1))).toThrow(LogFailedError);
    } finally {
      spy.mockRestore();
    }
    await log.close();
    const again = await DurableLog.open(dir);
    expect(again.lastIndex()).toBeGreaterThanOrEqual(5);
    await again.close();
  });
});
