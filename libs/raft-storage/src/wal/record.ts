import { crc32c } from "@node-rs/crc32";

/**
 * WAL record framing. Every record is
 *
 *   offset 0  u32 LE  crc32c over bytes [4, 12 + length)  (length, type, reserved and payload)
 *   offset 4  u32 LE  payload length
 *   offset 8  u8      record type (RecordType)
 *   offset 9  3 bytes reserved, zero
 *   offset 12 payload
 *
 * The checksum covers the length and type as well as the payload, so a flipped length byte is
 * detected instead of sending the reader off to a wrong offset. An all-zero header (a tail the
 * file system extended but never wrote) fails on its type, which is never 0.
 */
export const RECORD_HEADER_BYTES = 12;

export enum RecordType {
  Entry = 1,
  HardState = 2,
  /** A snapshot from the leader was installed here: the log restarts after its index. */
  SnapshotInstalled = 3,
}

/** Upper bound on one payload, well above any entry a sane host proposes. */
export const MAX_RECORD_PAYLOAD = 256 * 1024 * 1024;

function isRecordType(t: number): t is RecordType {
  return t === RecordType.Entry || t === RecordType.HardState || t === RecordType.SnapshotInstalled;
}

/**
 * Writes the header of a record whose payload already sits at buf[start + 12, start + 12 + len)
 * and seals it with the checksum. Batches are encoded into one buffer this way, so a whole Ready
 * is a single write() call.
 */
export function sealRecord(
  buf: Buffer,
  start: number,
  type: RecordType,
  payloadLength: number,
): void {
  buf.writeUInt32LE(payloadLength, start + 4);
  buf.writeUInt8(type, start + 8);
  buf.writeUInt8(0, start + 9);
  buf.writeUInt16LE(0, start + 10);
  const crc = crc32c(buf.subarray(start + 4, start + RECORD_HEADER_BYTES + payloadLength));
  buf.writeUInt32LE(crc, start);
}

/** One record, framed. */
export function encodeRecord(type: RecordType, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length);
  buf.set(payload, RECORD_HEADER_BYTES);
  sealRecord(buf, 0, type, payload.length);
  return buf;
}

export type DecodedRecord =
  | { readonly ok: true; readonly type: RecordType; readonly payload: Buffer; readonly end: number }
  | { readonly ok: false; readonly reason: string };

/** Decodes the record at `offset` of `buf` (which ends where the file's bytes end). */
export function decodeRecord(buf: Buffer, offset: number): DecodedRecord {
  if (buf.length - offset < RECORD_HEADER_BYTES) {
    return { ok: false, reason: `incomplete record header (${buf.length - offset} bytes)` };
  }
  const length = buf.readUInt32LE(offset + 4);
  const type = buf.readUInt8(offset + 8);
  if (!isRecordType(type)) return { ok: false, reason: `unknown record type ${type}` };
  if (buf.readUInt8(offset + 9) !== 0 || buf.readUInt16LE(offset + 10) !== 0) {
    return { ok: false, reason: "non-zero reserved header bytes" };
  }
  if (length > MAX_RECORD_PAYLOAD)
    return { ok: false, reason: `record length ${length} too large` };
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > buf.length) {
    return { ok: false, reason: `record of ${length} payload bytes runs past end of file` };
  }
  const stored = buf.readUInt32LE(offset);
  const actual = crc32c(buf.subarray(offset + 4, end));
  if (stored !== actual) {
    return {
      ok: false,
      reason: `checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})`,
    };
  }
  return { ok: true, type, payload: buf.subarray(offset + RECORD_HEADER_BYTES, end), end };
}
