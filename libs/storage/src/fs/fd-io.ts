import { fsync, open, read, readSync, writev, writevSync } from "node:fs";

/**
 * Objects up to this size are read and written with synchronous calls on the event loop; larger
 * ones go through libuv's thread pool. For a small object the calls themselves take
 * microseconds (page-cache copies and metadata updates, no wait for the device), while each
 * thread-pool round trip costs tens of microseconds of CPU in thread wake-ups (a microbenchmark:
 * a durable 16 KiB put made of nine pool calls cost 0.73 ms of CPU, with all but its two fsyncs
 * made synchronously 0.34 ms). Above this size a copy could hold the event loop for
 * milliseconds, and writes may be throttled by the kernel's dirty-page limits. fsync always goes
 * to the pool: it waits for the device. So does creating a file: on ext4 a create waits for the
 * journal while another process's fsync commits it (measured with two writers fsyncing:
 * open(O_CREAT) p50 0.33 ms, p99 1 ms, up to 6 ms; 0.04 ms alone). Link: see fs-io.ts.
 */
export const SYNC_IO_MAX_BYTES = 256 * 1024;

/** fsync(2) on a file descriptor, in the thread pool. */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** open(2) in the thread pool, for calls that may wait (a create: see above). */
export function openFd(path: string, flags: string | number, mode: number): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

/** Remaining chunks after `n` bytes of them were written (a short writev). */
function unwritten(chunks: readonly Uint8Array[], n: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  for (const c of chunks) {
    if (n >= c.byteLength) {
      n -= c.byteLength;
    } else {
      rest.push(n > 0 ? c.subarray(n) : c);
      n = 0;
    }
  }
  return rest;
}

/** Writes every chunk at the file's current offset, synchronously (small objects only). */
export function writevFullySync(fd: number, chunks: readonly Uint8Array[]): void {
  let pending = chunks.filter((c) => c.byteLength > 0);
  while (pending.length > 0) pending = unwritten(pending, writevSync(fd, pending));
}

/** Writes every chunk at the file's current offset, in the thread pool. */
export async function writevFully(fd: number, chunks: readonly Uint8Array[]): Promise<void> {
  let pending = chunks.filter((c) => c.byteLength > 0);
  while (pending.length > 0) {
    const n = await new Promise<number>((resolve, reject) =>
      writev(fd, pending, (err, written) => (err ? reject(err) : resolve(written))),
    );
    pending = unwritten(pending, n);
  }
}

function endOfFile(at: number): Error {
  return new Error(`unexpected end of file at ${at}`);
}

/** Fills `buf` from `position`, synchronously (small objects only). */
export function readFullySync(fd: number, buf: Uint8Array, position: number): void {
  for (let off = 0; off < buf.byteLength; ) {
    const n = readSync(fd, buf, off, buf.byteLength - off, position + off);
    if (n === 0) throw endOfFile(position + off);
    off += n;
  }
}

/** Fills `buf` from `position`, in the thread pool. */
export async function readFully(fd: number, buf: Uint8Array, position: number): Promise<void> {
  for (let off = 0; off < buf.byteLength; ) {
    const n = await new Promise<number>((resolve, reject) =>
      read(fd, buf, off, buf.byteLength - off, position + off, (err, bytesRead) =>
        err ? reject(err) : resolve(bytesRead),
      ),
    );
    if (n === 0) throw endOfFile(position + off);
    off += n;
  }
}
