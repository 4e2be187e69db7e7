import {
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type Snapshot,
  type SnapshotChunk,
} from "@tessera/raft";
import { RaftCodecError } from "./errors.js";

/**
 * Compact binary codec for one raft Message on the wire (the `bytes` of a MessageBatch in
 * raft.proto). Layout, version 1:
 *
 *   u8 version | u8 type | u8 flags
 *   uvarint to, from, term, logTerm, index, commit, rejectHint
 *   uvarint nEntries, then per entry: uvarint term, uvarint index, u8 type, uvarint len, bytes
 *   [flags.snapshot] uvarint index, term, voters[], learners[], votersOutgoing[] (each a uvarint
 *                    count then ids), uvarint dataLen, bytes
 *   [flags.chunk]    uvarint offset, total, dataLen, bytes (flags.done marks the last chunk)
 *   [flags.context]  uvarint len, bytes
 *
 * Unsigned LEB128 varints keep heartbeats and acks to ~12 bytes; numbers are exact up to
 * 2^53 (raft indices and terms are safe integers). Decoding never trusts a length: every read
 * is bounds-checked and a malformed buffer is a RaftCodecError naming the offset, so a bad
 * frame from the network is rejected without touching the core.
 */

export const CODEC_VERSION = 1;

const F_REJECT = 1;
const F_TRANSFER = 2;
const F_SNAPSHOT = 4;
const F_CHUNK = 8;
const F_CONTEXT = 16;
const F_DONE = 32;
const KNOWN_FLAGS = F_REJECT | F_TRANSFER | F_SNAPSHOT | F_CHUNK | F_CONTEXT | F_DONE;

const EMPTY = new Uint8Array(0);

class Writer {
  private buf: Uint8Array;
  private pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  uvarint(v: number): void {
    this.ensure(8);
    // Division instead of shifts: shifts truncate to 32 bits and indices go up to 2^53.
    let x = v;
    while (x >= 0x80) {
      this.buf[this.pos++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.pos++] = x;
  }

  bytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  ids(list: readonly number[]): void {
    this.uvarint(list.length);
    for (const id of list) this.uvarint(id);
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(field: string): number {
    if (this.pos >= this.buf.length) throw new RaftCodecError(field, this.pos, "unexpected end");
    return this.buf[this.pos++]!;
  }

  uvarint(field: string): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.buf.length) throw new RaftCodecError(field, this.pos, "unexpected end");
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) {
          throw new RaftCodecError(field, this.pos, "value exceeds 2^53");
        }
        return result;
      }
      mul *= 0x80;
    }
    throw new RaftCodecError(field, this.pos, "varint longer than 8 bytes");
  }

  bytes(field: string): Uint8Array {
    const len = this.uvarint(`${field}.length`);
    if (len > this.remaining) {
      throw new RaftCodecError(
        field,
        this.pos,
        `length ${len} exceeds the ${this.remaining} bytes left`,
      );
    }
    // A view, not a copy: the frame buffer belongs to this message alone once decoded.
    const out = len === 0 ? EMPTY : this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  ids(field: string): number[] {
    const n = this.uvarint(`${field}.count`);
    // Each id takes at least one byte, which bounds a hostile count before allocating.
    if (n > this.remaining) throw new RaftCodecError(field, this.pos, `count ${n} too large`);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.uvarint(field));
    return out;
  }
}

function estimateSize(m: Message): number {
  let n = 64;
  for (const e of m.entries) n += e.data.length + 24;
  if (m.snapshot) n += m.snapshot.data.length + 64;
  if (m.snapshotChunk) n += m.snapshotChunk.data.length + 24;
  if (m.context) n += m.context.length + 8;
  return n;
}

export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer(estimateSize(m));
  let flags = 0;
  if (m.reject) flags |= F_REJECT;
  if (m.transfer) flags |= F_TRANSFER;
  if (m.snapshot) flags |= F_SNAPSHOT;
  if (m.snapshotChunk) flags |= F_CHUNK;
  if (m.snapshotChunk?.done) flags |= F_DONE;
  if (m.context !== undefined) flags |= F_CONTEXT;
  w.u8(CODEC_VERSION);
  w.u8(m.type);
  w.u8(flags);
  w.uvarint(m.to);
  w.uvarint(m.from);
  w.uvarint(m.term);
  w.uvarint(m.logTerm);
  w.uvarint(m.index);
  w.uvarint(m.commit);
  w.uvarint(m.rejectHint);
  w.uvarint(m.entries.length);
  for (const e of m.entries) {
    w.uvarint(e.term);
    w.uvarint(e.index);
    w.u8(e.type);
    w.bytes(e.data);
  }
  if (m.snapshot) {
    const md = m.snapshot.metadata;
    w.uvarint(md.index);
    w.uvarint(md.term);
    w.ids(md.confState.voters);
    w.ids(md.confState.learners);
    w.ids(md.confState.votersOutgoing);
    w.bytes(m.snapshot.data);
  }
  if (m.snapshotChunk) {
    const c = m.snapshotChunk;
    w.uvarint(c.offset);
    w.uvarint(c.total);
    w.bytes(c.data);
  }
  if (m.context !== undefined) w.bytes(m.context);
  return w.finish();
}

export function decodeMessage(buf: Uint8Array): Message {
  if (!(buf instanceof Uint8Array)) throw new RaftCodecError("message", 0, "not a byte array");
  const r = new Reader(buf);
  const version = r.u8("version");
  if (version !== CODEC_VERSION) {
    throw new RaftCodecError("version", 0, `unknown codec version ${version}`);
  }
  const type = r.u8("type");
  if (MessageType[type] === undefined) {
    throw new RaftCodecError("type", 1, `unknown message type ${type}`);
  }
  const flags = r.u8("flags");
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new RaftCodecError("flags", 2, `unknown flag bits 0x${flags.toString(16)}`);
  }
  const to = r.uvarint("to");
  const from = r.uvarint("from");
  const term = r.uvarint("term");
  const logTerm = r.uvarint("logTerm");
  const index = r.uvarint("index");
  const commit = r.uvarint("commit");
  const rejectHint = r.uvarint("rejectHint");
  const nEntries = r.uvarint("entries.count");
  // An entry takes at least 4 bytes (term, index, type, length).
  if (nEntries * 4 > r.remaining) {
    throw new RaftCodecError("entries.count", r.pos, `count ${nEntries} too large`);
  }
  const entries: Entry[] = [];
  for (let i = 0; i < nEntries; i++) {
    const eTerm = r.uvarint("entry.term");
    const eIndex = r.uvarint("entry.index");
    const eType = r.u8("entry.type");
    if (eType !== EntryType.Normal && eType !== EntryType.ConfChange) {
      throw new RaftCodecError("entry.type", r.pos - 1, `unknown entry type ${eType}`);
    }
    entries.push({ term: eTerm, index: eIndex, type: eType, data: r.bytes("entry.data") });
  }
  const m: Message = {
    type: type as MessageType,
    to,
    from,
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (flags & F_REJECT) !== 0,
    rejectHint,
  };
  if (flags & F_TRANSFER) m.transfer = true;
  if (flags & F_SNAPSHOT) {
    const sIndex = r.uvarint("snapshot.index");
    const sTerm = r.uvarint("snapshot.term");
    const confState: ConfState = {
      voters: r.ids("snapshot.voters"),
      learners: r.ids("snapshot.learners"),
      votersOutgoing: r.ids("snapshot.votersOutgoing"),
    };
    const snapshot: Snapshot = {
      metadata: { index: sIndex, term: sTerm, confState },
      data: r.bytes("snapshot.data"),
    };
    m.snapshot = snapshot;
  }
  if (flags & F_CHUNK) {
    const offset = r.uvarint("chunk.offset");
    const total = r.uvarint("chunk.total");
    const data = r.bytes("chunk.data");
    if (offset + data.length > total) {
      throw new RaftCodecError(
        "chunk",
        r.pos,
        `bytes [${offset}, ${offset + data.length}) exceed total ${total}`,
      );
    }
    const chunk: SnapshotChunk = { offset, total, data, done: (flags & F_DONE) !== 0 };
    m.snapshotChunk = chunk;
  } else if (flags & F_DONE) {
    throw new RaftCodecError("flags", 2, "done flag without a snapshot chunk");
  }
  if (flags & F_CONTEXT) m.context = r.bytes("context");
  if (r.remaining !== 0) {
    throw new RaftCodecError("message", r.pos, `${r.remaining} trailing bytes`);
  }
  return m;
}
