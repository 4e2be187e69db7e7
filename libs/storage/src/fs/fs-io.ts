import { type FileHandle, link, open, rename, unlink } from "node:fs/promises";

/**
 * The few file-system calls that decide durability and atomicity, behind one seam so a test
 * can observe that they happen, and in which order. Everything else uses node:fs directly.
 */
export interface FsIo {
  /** fsync(2) on an open file: its data and size reach stable storage. */
  fsyncFile(handle: FileHandle, path: string): Promise<void>;
  /** fsync(2) on a directory: entries created, renamed or removed in it become durable. */
  fsyncDir(path: string): Promise<void>;
  /** link(2): creates `newPath` only if absent (EEXIST otherwise) — atomic first-writer-wins. */
  link(existingPath: string, newPath: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

export const nodeFsIo: FsIo = {
  fsyncFile: (handle) => handle.sync(),
  async fsyncDir(path) {
    const dir = await open(path, "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  },
  link: (a, b) => link(a, b),
  rename: (a, b) => rename(a, b),
  unlink: (p) => unlink(p),
};
