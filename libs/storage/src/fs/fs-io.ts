import { closeSync, openSync, unlinkSync } from "node:fs";
import { link, rename } from "node:fs/promises";
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
 * The fsyncs wait for the device and go to the thread pool. So do link and rename, the calls
 * that publish an object under its key: they too can wait on the journal (link: p50 0.014 ms but
 * up to 4 ms with two writers fsyncing), and being asynchronous they are where the e2e tests'
 * straggler preload (`test/e2e/src/slow-storage.ts`) delays a publish without blocking the
 * agent. unlink of the temp name and the directory's open/close are metadata calls made
 * synchronously: a pool round trip costs more CPU than they do (fd-io.ts).
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
  link: (a, b) => link(a, b),
  rename: (a, b) => rename(a, b),
  async unlink(p) {
    unlinkSync(p);
  },
};
