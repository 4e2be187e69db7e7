import fs, { promises as fsp } from "node:fs";
import { fsyncDir, writeFullySync } from "../fsio.js";

/**
 * WAL segments: append-only files `<seq as 16 hex>.wal`, numbered consecutively. The writer
 * appends to the last one and starts a new one once it passes the size limit; compaction
 * deletes whole segments from the front.
 *
 * Segment header (16 bytes): magic "TSWALSEG", u32 LE format version, u32 LE seq (which must
 * match the file name). Records (see record.ts) follow from offset 16.
 *
 * A segment is created as a temp file holding its header, fsynced and renamed into place, and
 * the directory is fsynced: a segment file therefore always has a whole header, and recovery
 * can treat a bad header as corruption rather than as a torn tail.
 */
export const SEGMENT_HEADER_BYTES = 16;
export const SEGMENT_FORMAT_VERSION = 1;
const MAGIC = Buffer.from("TSWALSEG", "latin1");
const NAME_RE = /^([0-9a-f]{16})\.wal$/;

export function segmentFileName(seq: number): string {
  return `${seq.toString(16).padStart(16, "0")}.wal`;
}

export function encodeSegmentHeader(seq: number): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(SEGMENT_FORMAT_VERSION, 8);
  b.writeUInt32LE(seq, 12);
  return b;
}

/** Returns a reason when the header is not that of segment `seq`, else undefined. */
export function checkSegmentHeader(buf: Buffer, seq: number): string | undefined {
  if (buf.length < SEGMENT_HEADER_BYTES) return `segment header is truncated (${buf.length} bytes)`;
  if (!buf.subarray(0, 8).equals(MAGIC)) return "not a Tessera WAL segment (bad magic)";
  const version = buf.readUInt32LE(8);
  if (version !== SEGMENT_FORMAT_VERSION) return `unsupported segment format version ${version}`;
  const s = buf.readUInt32LE(12);
  if (s !== seq) return `header names segment ${s} but the file name says ${seq}`;
  return undefined;
}

/** Segment files in `dir`, ascending by seq. */
export async function listSegments(dir: string): Promise<{ seq: number; path: string }[]> {
  const out: { seq: number; path: string }[] = [];
  for (const name of await fsp.readdir(dir)) {
    const m = NAME_RE.exec(name);
    if (m) out.push({ seq: Number.parseInt(m[1]!, 16), path: `${dir}/${name}` });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** Durably creates segment `seq` (header only) and returns its path. */
export async function createSegment(dir: string, seq: number): Promise<string> {
  const path = `${dir}/${segmentFileName(seq)}`;
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    writeFullySync(fd, encodeSegmentHeader(seq), 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  await fsp.rename(tmp, path);
  await fsyncDir(dir);
  return path;
}
