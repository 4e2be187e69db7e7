import fs, { promises as fsp } from "node:fs";

/**
 * Small durable-file primitives. Names and sizes of files live in the directory, so after
 * creating, renaming or unlinking a file its directory is fsynced too; otherwise a crash can
 * forget the change even though the file's own data was synced.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, "r");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Writes all of buf at `position` (pwrite loops on short writes). */
export function writeFullySync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    done += fs.writeSync(fd, buf, done, buf.length - done, position + done);
  }
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Replaces `path` atomically with `chunks`: write a temp file, fsync it, rename it over the
 * target, fsync the directory. A reader (or recovery after a crash) sees the old file or the
 * whole new one, never a prefix.
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  chunks: readonly Uint8Array[],
): Promise<void> {
  const tmp = `${dir}/${name}.tmp`;
  const h = await fsp.open(tmp, "w");
  try {
    let pos = 0;
    for (const c of chunks) {
      let done = 0;
      while (done < c.length) {
        const r = await h.write(c, done, c.length - done, pos);
        done += r.bytesWritten;
        pos += r.bytesWritten;
      }
    }
    await h.sync();
  } finally {
    await h.close();
  }
  await fsp.rename(tmp, `${dir}/${name}`);
  await fsyncDir(dir);
}

/** Removes leftovers of interrupted atomic writes (never read: they were never renamed). */
export async function removeTempFiles(dir: string): Promise<void> {
  for (const name of await fsp.readdir(dir)) {
    if (name.endsWith(".tmp")) await fsp.unlink(`${dir}/${name}`);
  }
}
