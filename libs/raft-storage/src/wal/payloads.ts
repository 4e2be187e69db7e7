import { type Entry, EntryType, type HardState } from "@tessera/raft";
import { RECORD_HEADER_BYTES, RecordType, sealRecord } from "./record.js";
import { readU64, writeU64 } from "./u64.js";

/**
 * Payloads of the WAL record types. Decoders return a string reason instead of throwing so that
 * recovery can attach the file and offset to a WalCorruptionError.
 *
 *   Entry:             u64 index, u64 term, u8 entry type, data
 *   HardState:         u64 term, u64 vote, u64 commit
 *   SnapshotInstalled: u64 index, u64 term
 */
const ENTRY_FIXED = 17;
const HARD_STATE_BYTES = 24;
const SNAPSHOT_MARK_BYTES = 16;

export interface SnapshotMark {
  readonly index: number;
  readonly term: number;
}

/** Bytes a batch of entries takes in the WAL, framing included. */
export function encodedEntriesSize(entries: readonly Entry[]): number {
  let n = 0;
  for (const e of entries) n += RECORD_HEADER_BYTES + ENTRY_FIXED + e.data.length;
  return n;
}

/** Encodes entries as consecutive records into buf from `offset`; returns the end offset. */
export function encodeEntriesInto(buf: Buffer, offset: number, entries: readonly Entry[]): number {
  let at = offset;
  for (const e of entries) {
    const p = at + RECORD_HEADER_BYTES;
    writeU64(buf, e.index, p);
    writeU64(buf, e.term, p + 8);
    buf.writeUInt8(e.type, p + 16);
    buf.set(e.data, p + ENTRY_FIXED);
    const len = ENTRY_FIXED + e.data.length;
    sealRecord(buf, at, RecordType.Entry, len);
    at += RECORD_HEADER_BYTES + len;
  }
  return at;
}

export function decodeEntry(p: Buffer): Entry | string {
  if (p.length < ENTRY_FIXED)
    return `entry payload of ${p.length} bytes is shorter than ${ENTRY_FIXED}`;
  const index = readU64(p, 0);
  const term = readU64(p, 8);
  const type = p.readUInt8(16);
  if (index < 1) return `entry index ${index} is invalid`;
  if (term < 0) return "entry term is invalid";
  if (type !== EntryType.Normal && type !== EntryType.ConfChange)
    return `unknown entry type ${type}`;
  // Copy: the entry must not pin the whole segment buffer read at recovery.
  return { index, term, type, data: new Uint8Array(p.subarray(ENTRY_FIXED)) };
}

export const HARD_STATE_RECORD_BYTES = RECORD_HEADER_BYTES + HARD_STATE_BYTES;

export function encodeHardStateInto(buf: Buffer, offset: number, hs: HardState): number {
  const p = offset + RECORD_HEADER_BYTES;
  writeU64(buf, hs.term, p);
  writeU64(buf, hs.vote, p + 8);
  writeU64(buf, hs.commit, p + 16);
  sealRecord(buf, offset, RecordType.HardState, HARD_STATE_BYTES);
  return offset + HARD_STATE_RECORD_BYTES;
}

export function encodeHardState(hs: HardState): Buffer {
  const buf = Buffer.allocUnsafe(HARD_STATE_RECORD_BYTES);
  encodeHardStateInto(buf, 0, hs);
  return buf;
}

export function decodeHardState(p: Buffer): HardState | string {
  if (p.length !== HARD_STATE_BYTES) return `hard state payload has ${p.length} bytes, expected 24`;
  const term = readU64(p, 0);
  const vote = readU64(p, 8);
  const commit = readU64(p, 16);
  if (term < 0 || vote < 0 || commit < 0) return "hard state field beyond 2^53";
  return { term, vote, commit };
}

export function encodeSnapshotMark(mark: SnapshotMark): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + SNAPSHOT_MARK_BYTES);
  writeU64(buf, mark.index, RECORD_HEADER_BYTES);
  writeU64(buf, mark.term, RECORD_HEADER_BYTES + 8);
  sealRecord(buf, 0, RecordType.SnapshotInstalled, SNAPSHOT_MARK_BYTES);
  return buf;
}

export function decodeSnapshotMark(p: Buffer): SnapshotMark | string {
  if (p.length !== SNAPSHOT_MARK_BYTES) return `snapshot mark has ${p.length} bytes, expected 16`;
  const index = readU64(p, 0);
  const term = readU64(p, 8);
  if (index < 0 || term < 0) return "snapshot mark field beyond 2^53";
  return { index, term };
}
