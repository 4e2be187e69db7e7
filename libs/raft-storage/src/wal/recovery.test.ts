import {
  appendFileSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { describe, expect, it } from "vitest";
import { DurableLog } from "../durable-log.js";
import { WalCorruptionError } from "../errors.js";
import { ENTRY_RECORD_BYTES, ent, range, tempDir, text } from "../testing.test-helpers.js";
import { encodedEntriesSize, encodeEntriesInto } from "./payloads.js";
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES, segmentFileName } from "./segment.js";

/** A closed log holding entries 1..n (term 1) in one segment; returns the segment path. */
async function logWith(n: number): Promise<{ dir: string; seg: string }> {
  const dir = tempDir();
  const log = await DurableLog.open(dir);
  await log.write({ entries: range(1, n, 1) });
  await log.close();
  return { dir, seg: `${dir}/wal/${segmentFileName(1)}` };
}

/** Byte offset of entry i's record in a segment written by logWith. */
const offsetOf = (i: number) => SEGMENT_HEADER_BYTES + (i - 1) * ENTRY_RECORD_BYTES;

function flip(path: string, offset: number): void {
  const b = readFileSync(path);
  b[offset]! ^= 0x40;
  writeFileSync(path, b);
}

async function reopenExpectingTornTail(dir: string, lastIndex: number, tornOffset: number) {
  const log = await DurableLog.open(dir);
  expect(log.lastIndex()).toBe(lastIndex);
  expect(log.recovery.tornTail?.offset).toBe(tornOffset);
  expect(log.entries(1, lastIndex + 1).map(text)).toEqual(range(1, lastIndex, 1).map(text));
  // The tail was cut, so a new append lands right after the last good record and survives.
  await log.write({ entries: [ent(lastIndex + 1, 2)] });
  await log.close();
  const again = await DurableLog.open(dir);
  expect(again.recovery.tornTail).toBeUndefined();
  expect(again.lastIndex()).toBe(lastIndex + 1);
  expect(again.term(lastIndex + 1)).toBe(2);
  await again.close();
}

describe("WAL recovery: a torn tail is cut, corruption in the middle is refused", () => {
  it("reads a segment crafted byte by byte from the documented format", async () => {
    const dir = tempDir();
    const entries = range(1, 3, 5);
    const body = Buffer.alloc(encodedEntriesSize(entries));
    encodeEntriesInto(body, 0, entries);
    const { mkdirSync } = await import("node:fs");
    mkdirSync(`${dir}/wal`);
    writeFileSync(
      `${dir}/wal/${segmentFileName(1)}`,
      Buffer.concat([encodeSegmentHeader(1), body]),
    );
    const log = await DurableLog.open(dir);
    expect(log.entries(1, 4).map(text)).toEqual(entries.map(text));
    await log.close();
  });

  it("discards a partial last record", async () => {
    const { dir, seg } = await logWith(10);
    truncateSync(seg, statSync(seg).size - 5);
    await reopenExpectingTornTail(dir, 9, offsetOf(10));
    expect(statSync(seg).size).toBe(offsetOf(10) + ENTRY_RECORD_BYTES);
  });

  it("discards a zero-filled tail", async () => {
    const { dir, seg } = await logWith(10);
    appendFileSync(seg, Buffer.alloc(8192));
    await reopenExpectingTornTail(dir, 10, offsetOf(11));
  });

  it("discards a last record whose checksum does not match", async () => {
    const { dir, seg } = await logWith(10);
    flip(seg, offsetOf(10) + 20);
    await reopenExpectingTornTail(dir, 9, offsetOf(10));
  });

  it("refuses a bad record followed by valid ones, naming file and offset", async () => {
    const { dir, seg } = await logWith(10);
    flip(seg, offsetOf(6) + 20);
    const err = await DurableLog.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalCorruptionError);
    expect(err).toMatchObject({ code: "TESSERA_E_WAL_CORRUPT", file: seg, offset: offsetOf(6) });
    expect((err as Error).message).toMatch(/followed by a valid record/);
    // Nothing was truncated: the evidence stays for an operator.
    expect(statSync(seg).size).toBe(offsetOf(11));
  });

  it("refuses a bad record in a segment that is not the last", async () => {
    const dir = tempDir();
    const log = await DurableLog.open(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 20; i++) await log.write({ entries: range(i * 10 + 1, i * 10 + 10, 1) });
    await log.close();
    const segs = readdirSync(`${dir}/wal`).sort();
    expect(segs.length).toBeGreaterThan(1);
    const first = `${dir}/wal/${segs[0]}`;
    // Tear the tail of the first segment: a crash cannot do that, since it was synced whole.
    truncateSync(first, statSync(first).size - 3);
    await expect(DurableLog.open(dir)).rejects.toMatchObject({
      code: "TESSERA_E_WAL_CORRUPT",
      file: first,
      message: expect.stringMatching(/not the last/),
    });
  });

  it("refuses a gap in log indices and a missing segment", async () => {
    const dir = tempDir();
    const entries = [ent(1, 1), ent(2, 1), ent(4, 1)];
    const body = Buffer.alloc(encodedEntriesSize(entries));
    encodeEntriesInto(body, 0, entries);
    const { mkdirSync } = await import("node:fs");
    mkdirSync(`${dir}/wal`);
    const seg = `${dir}/wal/${segmentFileName(1)}`;
    writeFileSync(seg, Buffer.concat([encodeSegmentHeader(1), body]));
    await expect(DurableLog.open(dir)).rejects.toMatchObject({
      code: "TESSERA_E_WAL_CORRUPT",
      offset: offsetOf(3),
      message: expect.stringMatching(/gap/),
    });
    writeFileSync(seg, encodeSegmentHeader(1));
    writeFileSync(`${dir}/wal/${segmentFileName(3)}`, encodeSegmentHeader(3));
    await expect(DurableLog.open(dir)).rejects.toThrow(/segment 2 is missing/);
  });

  it("refuses a segment whose header is damaged", async () => {
    const { dir, seg } = await logWith(3);
    flip(seg, 2);
    await expect(DurableLog.open(dir)).rejects.toThrow(/bad magic/);
  });
});
