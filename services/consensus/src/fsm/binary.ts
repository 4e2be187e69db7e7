import { HOST_IS_LITTLE_ENDIAN } from "@tessera/matrix";
import { FsmSnapshotError } from "./errors.js";

/*
 * Little-endian binary writer/reader for the manifest snapshot. Large typed arrays (per-task
 * state) are appended as views without copying, so the digest can hash the chunks directly and
 * the snapshot is one concatenation. Typed arrays are written in host byte order, which is why
 * a big-endian host is refused (every supported platform is little-endian).
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

const SMALL_CHUNK = 64 * 1024;

export class ChunkWriter {
  private readonly chunks: Uint8Array[] = [];
  private buf = new Uint8Array(SMALL_CHUNK);
  private view = new DataView(this.buf.buffer);
  /** Bytes of `buf` before `start` are already in `chunks`; small writes go at `pos`. */
  private start = 0;
  private pos = 0;
  private flushedBytes = 0;

  get length(): number {
    return this.flushedBytes + this.pos - this.start;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.byteLength) return;
    this.flush();
    this.buf = new Uint8Array(Math.max(n, SMALL_CHUNK));
    this.view = new DataView(this.buf.buffer);
    this.start = 0;
    this.pos = 0;
  }

  /**
   * Moves the pending small writes into `chunks`. The rest of the buffer stays in use: a snapshot
   * interleaves small fields with by-reference typed arrays once per job, and allocating a fresh
   * 64 KiB buffer at every such switch made snapshots of many small jobs cost ~1 ms per job.
   */
  private flush(): void {
    if (this.pos === this.start) return;
    this.chunks.push(this.buf.subarray(this.start, this.pos));
    this.flushedBytes += this.pos - this.start;
    this.start = this.pos;
  }

  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }

  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  str(s: string): void {
    const bytes = encoder.encode(s);
    this.u32(bytes.byteLength);
    this.bytes(bytes);
  }

  /** Length-less raw bytes (small: copied into the current chunk). */
  bytes(b: Uint8Array): void {
    if (b.byteLength >= SMALL_CHUNK) {
      this.raw(b);
      return;
    }
    this.ensure(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  /** A typed array's bytes, appended by reference (the caller must not mutate it until done). */
  raw(a: ArrayBufferView): void {
    if (!HOST_IS_LITTLE_ENDIAN) {
      throw new FsmSnapshotError("big-endian hosts are not supported by the snapshot format");
    }
    this.flush();
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    this.chunks.push(bytes);
    this.flushedBytes += bytes.byteLength;
  }

  /** Every chunk written so far, in order. */
  parts(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }

  /** One contiguous copy, with `prefix` bytes reserved at the front. */
  concat(prefix = 0): Uint8Array {
    const parts = this.parts();
    const out = new Uint8Array(prefix + this.flushedBytes);
    let off = prefix;
    for (const p of parts) {
      out.set(p, off);
      off += p.byteLength;
    }
    return out;
  }
}

export class Reader {
  private readonly view: DataView;
  pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.byteLength,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) {
      throw new FsmSnapshotError(`truncated while reading ${what}`, this.pos);
    }
  }

  u8(what = "u8"): number {
    this.need(1, what);
    const v = this.view.getUint8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(what = "u16"): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what = "u32"): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(what = "f64"): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  bool(what = "bool"): boolean {
    const v = this.u8(what);
    if (v > 1) throw new FsmSnapshotError(`${what}: bad boolean ${v}`, this.pos - 1);
    return v === 1;
  }

  str(what = "string"): string {
    const n = this.u32(`${what} length`);
    this.need(n, what);
    try {
      const s = decoder.decode(this.buf.subarray(this.pos, this.pos + n));
      this.pos += n;
      return s;
    } catch {
      throw new FsmSnapshotError(`${what}: invalid UTF-8`, this.pos);
    }
  }

  /** A copy of the next n bytes. */
  bytes(n: number, what = "bytes"): Uint8Array {
    this.need(n, what);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Fills `into` (a fresh typed array) from the next `into.byteLength` bytes. */
  fill<T extends ArrayBufferView>(into: T, what: string): T {
    this.need(into.byteLength, what);
    new Uint8Array(into.buffer, into.byteOffset, into.byteLength).set(
      this.buf.subarray(this.pos, this.pos + into.byteLength),
    );
    this.pos += into.byteLength;
    return into;
  }
}
