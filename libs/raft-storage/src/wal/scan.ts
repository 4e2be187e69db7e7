import { WalCorruptionError } from "../errors.js";
import { type DecodedRecord, decodeRecord, type RecordType } from "./record.js";
import { checkSegmentHeader, SEGMENT_HEADER_BYTES } from "./segment.js";

export interface ScannedRecord {
  readonly type: RecordType;
  readonly payload: Buffer;
  /** Byte offset of the record in its segment, for error messages. */
  readonly offset: number;
}

export interface ScannedSegment {
  readonly records: ScannedRecord[];
  /** End of the last valid record: where the writer continues, and where a torn tail is cut. */
  readonly validEnd: number;
  /** Set when bytes after validEnd were found to be a torn tail. */
  readonly tornTail?: { readonly offset: number; readonly bytes: number; readonly reason: string };
}

/**
 * Splits one segment's bytes into records (pure; no I/O).
 *
 * The first record that fails to decode ends the scan. In the last segment it is a torn tail
 * (an append the crash interrupted: a partial record, a zero-filled tail, a checksum mismatch)
 * only if no valid record can be found at any later offset: a crash cuts the file short, it does
 * not leave good records behind a bad one. Anything else (a bad record followed by good ones, a
 * bad record in an older segment, which was fsynced whole before the next was created) is real
 * corruption and throws WalCorruptionError naming the file and offset.
 */
export function scanSegment(
  buf: Buffer,
  file: string,
  seq: number,
  isLast: boolean,
): ScannedSegment {
  const headerProblem = checkSegmentHeader(buf, seq);
  if (headerProblem !== undefined) throw new WalCorruptionError(file, 0, headerProblem);
  const records: ScannedRecord[] = [];
  let at = SEGMENT_HEADER_BYTES;
  while (at < buf.length) {
    const r = decodeRecord(buf, at);
    if (!r.ok) {
      if (!isLast) {
        throw new WalCorruptionError(file, at, `${r.reason} in a segment that is not the last`);
      }
      const later = findValidRecordAfter(buf, at + 1);
      if (later !== undefined) {
        throw new WalCorruptionError(
          file,
          at,
          `${r.reason}, followed by a valid record at offset ${later} (not a torn tail)`,
        );
      }
      return {
        records,
        validEnd: at,
        tornTail: { offset: at, bytes: buf.length - at, reason: r.reason },
      };
    }
    records.push({ type: r.type, payload: r.payload, offset: at });
    at = r.end;
  }
  return { records, validEnd: at };
}

/** First offset >= from where a whole valid record decodes, if any. */
function findValidRecordAfter(buf: Buffer, from: number): number | undefined {
  for (let at = from; at + 12 <= buf.length; at++) {
    // Cheap pre-checks (type byte, reserved bytes) skip almost every offset before a CRC runs.
    const type = buf[at + 8]!;
    if (type === 0 || type > 3 || buf[at + 9] !== 0 || buf[at + 10] !== 0 || buf[at + 11] !== 0)
      continue;
    const r: DecodedRecord = decodeRecord(buf, at);
    if (r.ok) return at;
  }
  return undefined;
}
