import { CompactedError, type Entry, EntryType, UnavailableError } from "@tessera/raft";
import { describe, expect, it } from "vitest";
import { LogArgumentError, SnapshotOutOfDateError } from "./errors.js";
import { MemoryLog } from "./memory-log.js";

const ent = (index: number, term: number, text = `${index}@${term}`): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new TextEncoder().encode(text),
});
const range = (from: number, to: number, term: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => ent(from + i, term));
const text = (e: Entry) => new TextDecoder().decode(e.data);

describe("MemoryLog (the in-memory log shared with DurableLog)", () => {
  it("serves appended entries, terms and bounds", () => {
    const log = new MemoryLog();
    log.append(range(1, 5, 1));
    expect(log.firstIndex()).toBe(1);
    expect(log.lastIndex()).toBe(5);
    expect(log.term(0)).toBe(0);
    expect(log.term(3)).toBe(1);
    expect(log.entries(2, 5).map(text)).toEqual(["2@1", "3@1", "4@1"]);
    expect(() => log.entries(2, 7)).toThrow(UnavailableError);
    expect(() => log.term(6)).toThrow(UnavailableError);
  });

  it("limits entries() by maxBytes but always returns at least one", () => {
    const log = new MemoryLog();
    log.append(range(1, 5, 1)); // 3 bytes each
    expect(log.entries(1, 6, 7)).toHaveLength(2);
    expect(log.entries(1, 6, 1)).toHaveLength(1);
  });

  it("truncates the conflicting suffix when an append starts at or below the last index", () => {
    const log = new MemoryLog();
    log.append(range(1, 10, 1));
    log.append(range(6, 7, 2));
    expect(log.lastIndex()).toBe(7);
    expect(log.entries(1, 8).map(text)).toEqual([...range(1, 5, 1), ...range(6, 7, 2)].map(text));
  });

  it("rejects a gap, a term regression and malformed entries, naming the field", () => {
    const log = new MemoryLog();
    log.append(range(1, 3, 2));
    expect(() => log.append([ent(5, 2)])).toThrow(/entries\[0\]\.index.*gap/);
    expect(() => log.append([ent(4, 1)])).toThrow(/entries\[0\]\.term/);
    expect(() => log.append([ent(4, 2), ent(6, 2)])).toThrow(/entries\[1\]\.index/);
    const broken = { index: 4, term: Number.NaN, type: EntryType.Normal, data: new Uint8Array() };
    expect(() => log.append([broken])).toThrow(LogArgumentError);
    expect(log.lastIndex()).toBe(3);
  });

  it("validates the hard state: commit not beyond the log, term never decreasing", () => {
    const log = new MemoryLog();
    log.append(range(1, 3, 2));
    log.setHardState({ term: 2, vote: 1, commit: 3 });
    expect(() => log.setHardState({ term: 2, vote: 1, commit: 4 })).toThrow(/hardState\.commit/);
    expect(() => log.setHardState({ term: 1, vote: 1, commit: 3 })).toThrow(/hardState\.term/);
    expect(log.initialState().hardState).toEqual({ term: 2, vote: 1, commit: 3 });
  });

  it("compacts only what a snapshot covers and keeps the boundary term", async () => {
    const log = new MemoryLog();
    log.append(range(1, 10, 3));
    await expect(log.compact(4)).rejects.toThrow(/snapshot first/);
    await log.createSnapshot(
      6,
      { voters: [1], learners: [], votersOutgoing: [] },
      new Uint8Array([9]),
    );
    await log.compact(4);
    expect(log.firstIndex()).toBe(5);
    expect(log.term(4)).toBe(3);
    expect(() => log.entries(4, 6)).toThrow(CompactedError);
    expect(() => log.term(3)).toThrow(CompactedError);
    await expect(
      log.createSnapshot(6, { voters: [1], learners: [], votersOutgoing: [] }, new Uint8Array()),
    ).rejects.toThrow(SnapshotOutOfDateError);
  });

  it("applySnapshot replaces the whole log", () => {
    const log = new MemoryLog({ voters: [1, 2, 3], learners: [], votersOutgoing: [] });
    expect(log.initialState().confState.voters).toEqual([1, 2, 3]);
    log.append(range(1, 10, 1));
    log.applySnapshot({
      metadata: {
        index: 20,
        term: 4,
        confState: { voters: [1, 2], learners: [], votersOutgoing: [] },
      },
      data: new Uint8Array([1]),
    });
    expect(log.firstIndex()).toBe(21);
    expect(log.lastIndex()).toBe(20);
    expect(log.term(20)).toBe(4);
    expect(log.initialState().confState.voters).toEqual([1, 2]);
    log.append([ent(21, 4)]);
    expect(log.lastIndex()).toBe(21);
  });
});
