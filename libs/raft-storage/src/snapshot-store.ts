import { promises as fsp } from "node:fs";
import { crc32c } from "@node-rs/crc32";
import type { ConfState, Snapshot } from "@tessera/raft";
import { SnapshotCorruptionError } from "./errors.js";
import { fsyncDir, removeTempFiles, writeFileAtomic } from "./fsio.js";
import { checkConfState } from "./validate.js";
import { readU64, writeU64 } from "./wal/u64.js";

/**
 * Snapshot files: `<index as 16 hex>-<term as 16 hex>.snap` in their own directory, written
 * atomically (temp + fsync + rename + directory fsync), so one either exists whole or not at all.
 *
 *   offset 0   8 bytes  magic "TSSNAP01"
 *   offset 8   u32 LE   metadata length M
 *   offset 12  u32 LE   crc32c over metadata and data
 *   offset 16  u64 LE   data length D
 *   offset 24  M bytes  metadata, JSON {index, term, confState}
 *   offset 24+M D bytes data (the state machine image)
 *
 * Only the newest snapshot is kept: once a newer one is durable the older ones are deleted.
 */
const MAGIC = Buffer.from("TSSNAP01", "latin1");
const HEADER_BYTES = 24;
const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export function snapshotFileName(index: number, term: number): string {
  return `${index.toString(16).padStart(16, "0")}-${term.toString(16).padStart(16, "0")}.snap`;
}

export function encodeSnapshotFile(snap: Snapshot): Uint8Array[] {
  const { index, term, confState } = snap.metadata;
  const meta = Buffer.from(
    JSON.stringify({
      index,
      term,
      confState: {
        voters: confState.voters,
        learners: confState.learners,
        votersOutgoing: confState.votersOutgoing,
      },
    }),
  );
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(meta.length, 8);
  header.writeUInt32LE(crc32c(snap.data, crc32c(meta)), 12);
  writeU64(header, snap.data.length, 16);
  return [header, meta, snap.data];
}

export function decodeSnapshotFile(
  file: string,
  buf: Buffer,
  nameIndex: number,
  nameTerm: number,
): Snapshot {
  const bad = (reason: string) => new SnapshotCorruptionError(file, reason);
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC)) throw bad("bad magic");
  const metaLen = buf.readUInt32LE(8);
  const dataLen = readU64(buf, 16);
  if (HEADER_BYTES + metaLen + dataLen !== buf.length) {
    throw bad(`length fields (${metaLen} + ${dataLen}) do not match file size ${buf.length}`);
  }
  const meta = buf.subarray(HEADER_BYTES, HEADER_BYTES + metaLen);
  const data = buf.subarray(HEADER_BYTES + metaLen);
  if (crc32c(data, crc32c(meta)) !== buf.readUInt32LE(12)) throw bad("checksum mismatch");
  let parsed: { index?: unknown; term?: unknown; confState?: unknown };
  try {
    parsed = JSON.parse(meta.toString("utf8")) as typeof parsed;
  } catch {
    throw bad("metadata is not JSON");
  }
  if (parsed.index !== nameIndex || parsed.term !== nameTerm) {
    throw bad(
      `metadata (${String(parsed.index)}, ${String(parsed.term)}) does not match the file name`,
    );
  }
  const confState = parsed.confState as ConfState;
  try {
    checkConfState(confState);
  } catch (e) {
    throw bad(`metadata confState: ${(e as Error).message}`);
  }
  return { metadata: { index: nameIndex, term: nameTerm, confState }, data: new Uint8Array(data) };
}

export class SnapshotStore {
  constructor(readonly dir: string) {}

  /** Creates the directory, removes interrupted temp files; returns the newest snapshot if any. */
  async open(): Promise<Snapshot | undefined> {
    await fsp.mkdir(this.dir, { recursive: true });
    await removeTempFiles(this.dir);
    const files = await this.list();
    const newest = files[files.length - 1];
    if (newest === undefined) return undefined;
    const path = `${this.dir}/${newest.name}`;
    return decodeSnapshotFile(path, await fsp.readFile(path), newest.index, newest.term);
  }

  /** Writes the snapshot durably, then deletes the older ones. */
  async save(snap: Snapshot): Promise<void> {
    const name = snapshotFileName(snap.metadata.index, snap.metadata.term);
    await writeFileAtomic(this.dir, name, encodeSnapshotFile(snap));
    let removed = false;
    for (const f of await this.list()) {
      if (f.name !== name && f.index <= snap.metadata.index) {
        await fsp.unlink(`${this.dir}/${f.name}`);
        removed = true;
      }
    }
    if (removed) await fsyncDir(this.dir);
  }

  private async list(): Promise<{ name: string; index: number; term: number }[]> {
    const out: { name: string; index: number; term: number }[] = [];
    for (const name of await fsp.readdir(this.dir)) {
      const m = NAME_RE.exec(name);
      if (m)
        out.push({ name, index: Number.parseInt(m[1]!, 16), term: Number.parseInt(m[2]!, 16) });
    }
    return out.sort((a, b) => a.index - b.index || a.term - b.term);
  }
}
