// O_DIRECT transfers for the fs backend's large objects (FsStoreOptions.directIo; services turn
// it on unless TESSERA_FS_DIRECT_IO=0, spec.ts).
//
// Why: a buffered write puts every byte in fresh page-cache pages. On VMs whose memory is backed
// lazily by the host (virtio-balloon free page reporting, as on the 2-vCPU bench VMs), each page
// new to the guest costs a host fault: a durable 16 MiB put measured 65 ms of CPU buffered
// against 1.5 ms with O_DIRECT (wall 80 vs 26 ms; `dd` agrees: 218 MB/s vs 1.2 GB/s). Direct I/O
// moves the bytes between the device and memory the process already owns. Reads of such objects
// must be direct too, or the reader pays the same faults filling the cache.
//
// O_DIRECT wants the buffer address, the file offset and the length aligned to the device's
// logical block. JavaScript cannot see addresses, so each bounce buffer is over-allocated and
// its aligned start is found by asking the kernel (the first offset whose 4 KiB direct transfer
// is not refused with EINVAL); lengths are rounded up to 4 KiB and a written file is truncated
// to its true size before the fsync.
import { constants, ftruncate, read, write } from "node:fs";

/** Objects smaller than this stay buffered (a few pages: the cache is cheaper than a device trip). */
export const DIRECT_IO_MIN_BYTES = 1 << 20;
/** Alignment of buffers, offsets and lengths (≥ any logical block size Linux devices use). */
export const DIRECT_IO_ALIGN = 4096;
/** Bounce buffers kept for reuse per store (each as large as the largest object seen). */
const KEPT_BUFFERS = 4;

export const O_DIRECT: number = constants.O_DIRECT ?? 0;

/** True when this platform has O_DIRECT at all (Linux); elsewhere the store stays buffered. */
export const directIoAvailable = O_DIRECT !== 0;

export function roundUp(n: number): number {
  return Math.ceil(n / DIRECT_IO_ALIGN) * DIRECT_IO_ALIGN;
}

/** The kernel refused a direct transfer's alignment, or the file system refuses O_DIRECT. */
export function isDirectIoRefusal(err: unknown): boolean {
  return typeof err === "object" && err !== null && "code" in err && err.code === "EINVAL";
}

function pwrite(fd: number, buf: Uint8Array, off: number, len: number, pos: number) {
  return new Promise<number>((resolve, reject) =>
    write(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

function pread(fd: number, buf: Uint8Array, off: number, len: number, pos: number) {
  return new Promise<number>((resolve, reject) =>
    read(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** Page-aligned bounce buffers, found once and reused (their pages stay the process's own). */
export class BounceBuffers {
  private readonly free: Uint8Array[] = [];

  /**
   * A buffer of at least `bytes` (a multiple of DIRECT_IO_ALIGN) whose start the kernel accepts
   * for direct transfers on `fd`; `probe` makes one 4 KiB transfer at file offset 0 (a write on
   * a new file, a read on an object). Throws the refusal when no start is accepted.
   */
  async take(bytes: number, fd: number, probe: "read" | "write"): Promise<Uint8Array> {
    const i = this.free.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.free.splice(i, 1)[0] as Uint8Array;
    const raw = Buffer.allocUnsafeSlow(bytes + DIRECT_IO_ALIGN);
    let refusal: unknown;
    for (let k = 0; k < DIRECT_IO_ALIGN; k += 16) {
      try {
        if (probe === "write") await pwrite(fd, raw, k, DIRECT_IO_ALIGN, 0);
        else await pread(fd, raw, k, DIRECT_IO_ALIGN, 0);
        return raw.subarray(k, k + bytes);
      } catch (err) {
        if (!isDirectIoRefusal(err)) throw err;
        refusal = err;
      }
    }
    throw refusal;
  }

  give(buf: Uint8Array): void {
    this.free.push(buf);
    if (this.free.length > KEPT_BUFFERS) {
      this.free.sort((a, b) => b.byteLength - a.byteLength);
      this.free.length = KEPT_BUFFERS;
    }
  }
}

/**
 * Writes `chunks` (payload, trailer) as one file of their total length through `bounce`:
 * copied in, zero-padded to DIRECT_IO_ALIGN, written with O_DIRECT from offset 0, then
 * truncated to the true length (the caller fsyncs, which makes size and data durable).
 */
export async function writeDirect(
  fd: number,
  chunks: readonly Uint8Array[],
  bounce: Uint8Array,
): Promise<void> {
  let length = 0;
  for (const c of chunks) {
    bounce.set(c, length);
    length += c.byteLength;
  }
  const padded = roundUp(length);
  bounce.fill(0, length, padded);
  for (let off = 0; off < padded; ) {
    off += await pwrite(fd, bounce, off, padded - off, off);
  }
  await new Promise<void>((resolve, reject) =>
    ftruncate(fd, length, (err) => (err ? reject(err) : resolve())),
  );
}

/**
 * Fills `into` with the first `into.byteLength` bytes of the file through `bounce` (as large as
 * roundUp of the file's size): direct reads from offset 0 until those bytes are in.
 */
export async function readDirect(fd: number, into: Uint8Array, bounce: Uint8Array): Promise<void> {
  const want = into.byteLength;
  let have = 0;
  while (have < want) {
    // Only the end of the file makes a direct read short, and a short read ends it.
    if (have % DIRECT_IO_ALIGN !== 0) throw new Error(`unexpected end of file at ${have}`);
    const n = await pread(fd, bounce, have, bounce.byteLength - have, have);
    if (n === 0) throw new Error(`unexpected end of file at ${have}`);
    have += n;
  }
  into.set(bounce.subarray(0, want));
}
