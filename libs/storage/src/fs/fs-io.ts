import { closeSync, linkSync, openSync, renameSync, unlinkSync } from "node:fs";
import { fsyncFd } from "./fd-io.js";

/**
 * The few file-system calls that decide durability and atomicity, behind one seam so a test
 * can observe that they happen, and in which order. Everything else uses node:fs directly.
 */
export interface FsIo {
  /** fsync(2) on an open file: its data and size reach stable storage. */
  fsyncFile(fd: number, path: string): Promise<void>;
  /** fsync(2) on a directory: entries created, renamed or removed in it become durable. */
  fsyncDir(path: string): Promise<void>;
  /** link(2): creates `newPath` only if absent (EEXIST otherwise) — atomic first-writer-wins. */
  link(existingPath: string, newPath: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

/**
 * link, rename, unlink and open are metadata updates in memory (the journal makes them durable
 * at the directory's fsync), so they run synchronously: a thread-pool round trip would cost more
 * CPU than the call (fd-io.ts). The fsyncs wait for the device and stay in the pool.
 */
export const nodeFsIo: FsIo = {
  fsyncFile: (fd) => fsyncFd(fd),
  async fsyncDir(path) {
    const fd = openSync(path, "r");
    try {
      await fsyncFd(fd);
    } finally {
      closeSync(fd);
    }
  },
  async link(a, b) {
    linkSync(a, b);
  },
  async rename(a, b) {
    renameSync(a, b);
  },
  async unlink(p) {
    unlinkSync(p);
  },
};
