import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  createReadStream,
  type Dirent,
  fstatSync,
  openSync,
  statSync,
} from "node:fs";
import { lstat, mkdir, readdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { pipeline, type Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { Crc32cAccumulator, crc32cHex } from "../checksum.js";
import {
  ChecksumMismatchError,
  ConflictError,
  ObjectNotFoundError,
  StorageBackendError,
  StorageError,
  StorageUnavailableError,
  UnverifiableObjectError,
} from "../errors.js";
import { assertValidKey, assertValidPrefix } from "../keys.js";
import type {
  CopyOptions,
  GetOptions,
  ListEntry,
  ObjectInfo,
  ObjectStore,
  PutData,
  PutOptions,
  PutResult,
} from "../object-store.js";
import {
  assertExpectedChecksum,
  byteChunks,
  checkCopySource,
  classifyPutData,
} from "../put-data.js";
import { verifyBytes, verifyingStream } from "../verify-stream.js";
import {
  BounceBuffers,
  DIRECT_IO_MIN_BYTES,
  directIoAvailable,
  isDirectIoRefusal,
  O_DIRECT,
  readDirect,
  roundUp,
  writeDirect,
} from "./direct-io.js";
import {
  openFd,
  readFully,
  readFullySync,
  SYNC_IO_MAX_BYTES,
  writevFully,
  writevFullySync,
} from "./fd-io.js";
import { type FsIo, nodeFsIo } from "./fs-io.js";
import { decodeTrailer, encodeTrailer, TRAILER_BYTES, type Trailer } from "./trailer.js";

/** Temp files live beside their target (same directory ⇒ same file system ⇒ atomic link). */
const TEMP_PREFIX = ".tessera-tmp-";
const KNOWN_DIRS_MAX = 10_000;

/** Stream chunks are coalesced into writes of about this size: fewer syscalls, like dd bs=4M. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;
const NO_LINK = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EXDEV"]);
const TRANSIENT = new Set([
  "EAGAIN",
  "EBUSY",
  "EMFILE",
  "ENFILE",
  "ENOSPC",
  "EIO",
  "ETIMEDOUT",
  "EINTR",
]);

export interface FsStoreOptions {
  readonly root: string;
  /** Durability seam; tests observe fsync/link ordering through it. */
  readonly io?: FsIo;
  /**
   * Objects of DIRECT_IO_MIN_BYTES or more are written and read with O_DIRECT (direct-io.ts):
   * no page cache for tile-sized objects. Off by default; a file system that refuses O_DIRECT
   * (tmpfs) turns it off for the store at the first refusal, and every call still succeeds.
   */
  readonly directIo?: boolean;
}

/** False when `path` surely does not exist (ENOENT, ENOTDIR); true otherwise, errors included. */
function mayExist(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    return errnoCode(err) !== "ENOTDIR";
  }
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string"
    ? err.code
    : undefined;
}

/**
 * The default backend: one file per object under `root` (key `a/b` → `root/a/b`), payload then
 * a 16-byte CRC32C trailer. Writes are durable and atomic: temp file in the target directory,
 * fsync, link(2) into place (fails if the key exists ⇒ first writer wins), fsync directory.
 */
export class FsObjectStore implements ObjectStore {
  readonly backend = "fs" as const;
  readonly root: string;
  private readonly io: FsIo;
  /** Falls back to check-then-rename on file systems without hard links (documented window). */
  private linkSupported = true;
  /** Directories this store made or found (saves a mkdir per put; see writeTempIn). */
  private readonly knownDirs = new Set<string>();
  /**
   * Temp names: pid (sweepTempFiles keeps those of live writers), a random tag per store (a
   * reused pid cannot meet an old writer's leftovers) and a counter (no random draw per put).
   */
  private readonly tempStem = `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString("hex")}-`;
  private tempCount = 0;
  /** Bounce buffers for direct I/O; undefined when it is off or the file system refused it. */
  private direct: BounceBuffers | undefined;

  constructor(options: FsStoreOptions) {
    this.root = resolve(options.root);
    this.io = options.io ?? nodeFsIo;
    if (options.directIo && directIoAvailable) this.direct = new BounceBuffers();
  }

  /** Whether objects are being moved with O_DIRECT now (asked for, and not refused yet). */
  get directIo(): boolean {
    return this.direct !== undefined;
  }

  uri(key: string): string {
    assertValidKey(key);
    return pathToFileURL(this.pathOf(key)).href;
  }

  private pathOf(key: string): string {
    return join(this.root, ...key.split("/"));
  }

  putStream(key: string, data: Readable | AsyncIterable<Uint8Array>, options?: PutOptions) {
    return this.put(key, data, options);
  }

  async put(key: string, data: PutData, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    assertExpectedChecksum(options.expectedChecksum);
    const input = classifyPutData(data);
    const path = this.pathOf(key);
    try {
      // Computed once here and handed to writeTemp: a second pass over a large tile is not free.
      let checksum: string | undefined;
      if (input.kind === "bytes") {
        checksum = crc32cHex(input.bytes);
        if (options.expectedChecksum !== undefined && options.expectedChecksum !== checksum) {
          throw new ChecksumMismatchError(
            key,
            options.expectedChecksum,
            checksum,
            "put data does not match expectedChecksum",
          );
        }
        // Cheap idempotency fast path: a retry of an existing object writes nothing. The
        // usual answer is "no such file": a synchronous stat (a dentry lookup) says so without
        // a thread-pool round trip and a thrown ENOENT, which cost more than the small puts
        // of a busy agent can afford.
        if (mayExist(path)) {
          const existing = this.readTrailerIfExists(key, path);
          if (existing)
            return this.resolveExisting(key, existing, checksum, input.bytes.byteLength);
        }
      }
      const dir = dirname(path);
      const tmp = join(dir, `${this.tempStem}${++this.tempCount}`);
      try {
        const written = await this.writeTempIn(dir, tmp, input, key, options, checksum);
        return await this.publish(key, tmp, path, written);
      } catch (err) {
        // publish() leaves no temp file behind when it returns; on failure it may.
        await this.io.unlink(tmp).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      throw this.mapError(err, "put", key);
    }
  }

  /**
   * writeTemp in `dir`, made (durably) first unless this store made or met it before. A
   * directory that vanished since (an operator cleaning up by hand) is made again.
   */
  private async writeTempIn(
    dir: string,
    tmp: string,
    input: ReturnType<typeof classifyPutData>,
    key: string,
    options: PutOptions,
    checksum: string | undefined,
  ): Promise<Trailer> {
    const known = this.knownDirs.has(dir);
    if (!known) await this.mkdirDurable(dir);
    try {
      return await this.writeTemp(tmp, input, key, options.expectedChecksum, checksum);
    } catch (err) {
      if (!known || errnoCode(err) !== "ENOENT") throw err;
      // An ancestor may have gone with it: nothing remembered is trusted any more.
      this.knownDirs.clear();
      await this.mkdirDurable(dir);
      return this.writeTemp(tmp, input, key, options.expectedChecksum, checksum);
    }
  }

  /**
   * Writes payload + trailer to a fresh temp file and fsyncs it. The create and the fsync go to
   * the thread pool (they may wait for the journal or the device); the writes of a small object
   * and the close are synchronous (fd-io.ts).
   */
  private async writeTemp(
    tmp: string,
    input: ReturnType<typeof classifyPutData>,
    key: string,
    expectedChecksum: string | undefined,
    bytesChecksum: string | undefined,
  ): Promise<Trailer> {
    if (input.kind === "bytes" && this.direct && input.bytes.byteLength >= DIRECT_IO_MIN_BYTES) {
      const checksum = bytesChecksum ?? crc32cHex(input.bytes);
      const written = await this.writeTempDirect(tmp, input.bytes, checksum, this.direct);
      if (written) return written;
    }
    const fd = await openFd(tmp, "wx", 0o644);
    try {
      let trailer: Trailer;
      if (input.kind === "bytes") {
        const checksum = bytesChecksum ?? crc32cHex(input.bytes);
        trailer = { checksum, bytes: input.bytes.byteLength };
        // One writev for payload + trailer: for a 64 MiB tile that is a single syscall.
        const chunks = [input.bytes, encodeTrailer(trailer.checksum, trailer.bytes)];
        if (trailer.bytes <= SYNC_IO_MAX_BYTES) writevFullySync(fd, chunks);
        else await writevFully(fd, chunks);
      } else {
        const acc = new Crc32cAccumulator();
        let batch: Uint8Array[] = [];
        let batchBytes = 0;
        for await (const chunk of byteChunks(input.stream)) {
          acc.update(chunk);
          batch.push(chunk);
          batchBytes += chunk.byteLength;
          if (batchBytes >= WRITE_BATCH_BYTES) {
            await writevFully(fd, batch);
            batch = [];
            batchBytes = 0;
          }
        }
        trailer = { checksum: acc.hex, bytes: acc.bytes };
        if (expectedChecksum !== undefined && expectedChecksum !== trailer.checksum) {
          throw new ChecksumMismatchError(
            key,
            expectedChecksum,
            trailer.checksum,
            "put data does not match expectedChecksum",
          );
        }
        batch.push(encodeTrailer(trailer.checksum, trailer.bytes));
        await writevFully(fd, batch);
      }
      await this.io.fsyncFile(fd, tmp);
      return trailer;
    } finally {
      closeSync(fd);
    }
  }

  /** `open` with O_DIRECT; undefined, and direct I/O off for this store, when it is refused. */
  private async openDirect(open: () => number | Promise<number>): Promise<number | undefined> {
    try {
      return await open();
    } catch (err) {
      if (!isDirectIoRefusal(err)) throw err;
      this.direct = undefined;
      return undefined;
    }
  }

  /**
   * writeTemp with O_DIRECT (direct-io.ts). Undefined when the file system or the kernel refused
   * the direct transfer: direct I/O is then off for this store, no temp file is left, and the
   * caller writes the object buffered.
   */
  private async writeTempDirect(
    tmp: string,
    bytes: Uint8Array,
    checksum: string,
    direct: BounceBuffers,
  ): Promise<Trailer | undefined> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_DIRECT;
    const fd = await this.openDirect(() => openFd(tmp, flags, 0o644));
    if (fd === undefined) return undefined;
    let bounce: Uint8Array | undefined;
    try {
      bounce = await direct.take(roundUp(bytes.byteLength + TRAILER_BYTES), fd, "write");
      await writeDirect(fd, [bytes, encodeTrailer(checksum, bytes.byteLength)], bounce);
      await this.io.fsyncFile(fd, tmp);
      return { checksum, bytes: bytes.byteLength };
    } catch (err) {
      if (!isDirectIoRefusal(err)) throw err;
      this.direct = undefined;
    } finally {
      closeSync(fd);
      if (bounce) direct.give(bounce);
    }
    await this.io.unlink(tmp);
    return undefined;
  }

  /** Moves a complete, fsynced temp file into place without ever replacing another object. */
  private async publish(
    key: string,
    tmp: string,
    path: string,
    written: Trailer,
  ): Promise<PutResult> {
    const dir = dirname(path);
    if (this.linkSupported) {
      try {
        await this.io.link(tmp, path);
      } catch (err) {
        const code = errnoCode(err);
        if (code === "EEXIST") {
          const existing = this.readTrailerIfExists(key, path);
          if (existing) {
            await this.io.unlink(tmp);
            return this.resolveExisting(key, existing, written.checksum, written.bytes);
          }
          // Deleted between our link attempt and the read: try once more from the top.
          await this.io.link(tmp, path);
        } else if (code !== undefined && NO_LINK.has(code)) {
          this.linkSupported = false;
          return this.publish(key, tmp, path, written);
        } else {
          throw err;
        }
      }
      await this.io.unlink(tmp);
    } else {
      // No hard links: check, then rename. Two racing writers of DIFFERENT content can both
      // pass the check and the later rename wins; same-content races are harmless.
      const existing = this.readTrailerIfExists(key, path);
      if (existing) {
        await this.io.unlink(tmp);
        return this.resolveExisting(key, existing, written.checksum, written.bytes);
      }
      await this.io.rename(tmp, path);
    }
    await this.io.fsyncDir(dir);
    return created(key, path, written);
  }

  /**
   * A hard link: the object file (payload and trailer, fsynced when it was written) gets a
   * second name, so nothing is read or written but the directory entry, made durable like a
   * put's. Objects are never modified in place, so sharing the inode shares only immutable
   * bytes; deleting either key leaves the other whole. Without hard links: read, then put.
   */
  async copy(fromKey: string, toKey: string, options: CopyOptions = {}): Promise<PutResult> {
    assertValidKey(fromKey);
    assertValidKey(toKey);
    assertExpectedChecksum(options.expectedChecksum);
    const fromPath = this.pathOf(fromKey);
    const path = this.pathOf(toKey);
    try {
      const trailer = this.readTrailerIfExists(fromKey, fromPath);
      const source = checkCopySource(
        fromKey,
        this.uri(fromKey),
        trailer && { key: fromKey, uri: this.uri(fromKey), ...trailer },
        options.expectedChecksum,
      );
      if (!this.linkSupported) return await this.copyThrough(fromKey, toKey, source.checksum);
      const dir = dirname(path);
      if (!this.knownDirs.has(dir)) await this.mkdirDurable(dir);
      try {
        await this.io.link(fromPath, path);
      } catch (err) {
        const code = errnoCode(err);
        if (code === "EEXIST") {
          const existing = this.readTrailerIfExists(toKey, path);
          if (existing) return this.resolveExisting(toKey, existing, source.checksum, source.bytes);
          throw err;
        }
        if (code !== undefined && NO_LINK.has(code)) {
          this.linkSupported = false;
          return await this.copyThrough(fromKey, toKey, source.checksum);
        }
        if (code !== "ENOENT") throw err;
        // The source went away since its trailer was read, or the target directory did.
        if (!mayExist(fromPath)) throw new ObjectNotFoundError(fromKey, this.uri(fromKey));
        this.knownDirs.clear();
        await this.mkdirDurable(dir);
        await this.io.link(fromPath, path);
      }
      await this.io.fsyncDir(dir);
      return created(toKey, path, source);
    } catch (err) {
      throw this.mapError(err, "copy", toKey);
    }
  }

  private async copyThrough(fromKey: string, toKey: string, checksum: string) {
    return this.put(toKey, await this.get(fromKey), { expectedChecksum: checksum });
  }

  private resolveExisting(
    key: string,
    existing: Trailer,
    checksum: string,
    bytes: number,
  ): PutResult {
    if (existing.checksum !== checksum || existing.bytes !== bytes) {
      throw new ConflictError(key, existing.checksum, checksum);
    }
    return { key, uri: this.uri(key), checksum, bytes, created: false };
  }

  /**
   * mkdir -p, then make every entry from the root down to `dir` durable (fsync each parent)
   * before anything in `dir` is reported durable. Whoever created them (this put, a concurrent
   * one, another agent sharing the root): a put that finds the directory made by someone else
   * whose fsync has not finished yet must not report success before that fsync. Once per
   * directory and process: the walk up stops at a directory knownDirs already holds (its
   * entries up to the root are durable), so sibling directories share their parents' fsyncs.
   */
  private async mkdirDurable(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const chain: string[] = [];
    for (let d = dir; d !== this.root && d !== dirname(d) && !this.knownDirs.has(d); d = dirname(d))
      chain.push(d);
    await Promise.all(chain.map((d) => this.io.fsyncDir(dirname(d))));
    // Bounded: a long-lived process over many jobs forgets and fsyncs its parents once more.
    if (this.knownDirs.size + chain.length > KNOWN_DIRS_MAX) this.knownDirs.clear();
    for (const d of chain) this.knownDirs.add(d);
  }

  /** A read-only descriptor, or null when nothing is there (open is a metadata call: sync). */
  private openExisting(path: string): number | null {
    try {
      return openSync(path, "r");
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT" || code === "ENOTDIR") return null;
      throw err;
    }
  }

  /**
   * Reads the trailer through an open descriptor, which pins the inode we verify. Sixteen bytes:
   * a synchronous read, like every small one (fd-io.ts).
   */
  private readTrailer(key: string, fd: number): Trailer {
    const { size } = fstatSync(fd);
    if (size < TRAILER_BYTES)
      throw new UnverifiableObjectError(key, "file is shorter than the checksum trailer");
    const buf = Buffer.alloc(TRAILER_BYTES);
    readFullySync(fd, buf, size - TRAILER_BYTES);
    const trailer = decodeTrailer(buf);
    if ("problem" in trailer) throw new UnverifiableObjectError(key, trailer.problem);
    if (trailer.bytes !== size - TRAILER_BYTES) {
      throw new ChecksumMismatchError(
        key,
        trailer.checksum,
        "unknown",
        `file holds ${size - TRAILER_BYTES} payload bytes, trailer says ${trailer.bytes}`,
      );
    }
    return trailer;
  }

  private readTrailerIfExists(key: string, path: string): Trailer | null {
    const fd = this.openExisting(path);
    if (fd === null) return null;
    try {
      return this.readTrailer(key, fd);
    } finally {
      closeSync(fd);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Uint8Array> {
    assertValidKey(key);
    const path = this.pathOf(key);
    try {
      const fd = this.openExisting(path);
      if (fd === null) throw new ObjectNotFoundError(key, this.uri(key));
      try {
        const trailer = this.readTrailer(key, fd);
        const data = options.into
          ? checkedInto(options.into, trailer.bytes)
          : Buffer.allocUnsafe(trailer.bytes);
        const direct = trailer.bytes >= DIRECT_IO_MIN_BYTES ? this.direct : undefined;
        const readDirectly = direct && (await this.readDirectInto(path, trailer, data, direct));
        if (!readDirectly) {
          if (trailer.bytes <= SYNC_IO_MAX_BYTES) readFullySync(fd, data, 0);
          else await readFully(fd, data, 0);
        }
        verifyBytes(key, data, crc32cHex(data), trailer.checksum, trailer.bytes);
        return data;
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw this.mapError(err, "get", key);
    }
  }

  /**
   * The payload of the object at `path` into `data` with O_DIRECT, through a second descriptor
   * (the caller's, which read the trailer, is buffered). False when the file system or the
   * kernel refused the direct transfer: direct I/O is then off for this store and the caller
   * reads buffered. Verification is the caller's, as for a buffered read.
   */
  private async readDirectInto(
    path: string,
    trailer: Trailer,
    data: Uint8Array,
    direct: BounceBuffers,
  ): Promise<boolean> {
    const fd = await this.openDirect(() => openSync(path, constants.O_RDONLY | O_DIRECT));
    if (fd === undefined) return false;
    let bounce: Uint8Array | undefined;
    try {
      bounce = await direct.take(roundUp(trailer.bytes + TRAILER_BYTES), fd, "read");
      await readDirect(fd, data, bounce);
      return true;
    } catch (err) {
      if (!isDirectIoRefusal(err)) throw err;
      this.direct = undefined;
      return false;
    } finally {
      closeSync(fd);
      if (bounce) direct.give(bounce);
    }
  }

  async getStream(key: string): Promise<Readable> {
    assertValidKey(key);
    const path = this.pathOf(key);
    try {
      const fd = this.openExisting(path);
      if (fd === null) throw new ObjectNotFoundError(key, this.uri(key));
      let trailer: Trailer;
      try {
        trailer = this.readTrailer(key, fd);
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      const verify = verifyingStream(key, trailer.checksum, trailer.bytes);
      if (trailer.bytes === 0) {
        closeSync(fd);
        verify.end();
        return verify;
      }
      const source = createReadStream("", {
        fd,
        start: 0,
        end: trailer.bytes - 1,
        highWaterMark: 1 << 20,
        autoClose: true,
      });
      pipeline(source, verify, () => undefined);
      return verify;
    } catch (err) {
      throw this.mapError(err, "getStream", key);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    try {
      const trailer = this.readTrailerIfExists(key, this.pathOf(key));
      return trailer
        ? { key, uri: this.uri(key), bytes: trailer.bytes, checksum: trailer.checksum }
        : null;
    } catch (err) {
      if (errnoCode(err) === "EISDIR") return null; // the key names a prefix, not an object
      throw this.mapError(err, "head", key);
    }
  }

  async *list(prefix: string): AsyncGenerator<ListEntry> {
    assertValidPrefix(prefix);
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash);
    const start = dirKey === "" ? this.root : this.pathOf(dirKey);
    try {
      for await (const entry of this.walk(start, dirKey)) {
        if (entry.key.startsWith(prefix)) yield entry;
      }
    } catch (err) {
      throw this.mapError(err, "list", prefix);
    }
  }

  /**
   * Depth-first walk in key byte order: a directory `a` holds keys `a/…`, so it sorts as `a/`
   * (after `a-x`, before `a0`), matching S3/GCS list order.
   */
  private async *walk(dir: string, dirKey: string): AsyncGenerator<ListEntry> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT" || code === "ENOTDIR") return;
      throw err;
    }
    const sortKey = (e: Dirent) => (e.isDirectory() ? `${e.name}/` : e.name);
    entries = entries
      .filter((e) => !e.name.startsWith("."))
      .sort((a, b) => compareBytes(sortKey(a), sortKey(b)));
    for (const e of entries) {
      const key = dirKey === "" ? e.name : `${dirKey}/${e.name}`;
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        yield* this.walk(path, key);
      } else if (e.isFile()) {
        const st = await lstat(path).catch(() => null);
        if (st && st.size >= TRAILER_BYTES) yield { key, bytes: st.size - TRAILER_BYTES };
      }
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    const path = this.pathOf(key);
    try {
      await this.io.unlink(path);
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT" || code === "ENOTDIR") return;
      if (code === "EISDIR" || code === "EPERM") return; // a prefix, not an object
      throw this.mapError(err, "delete", key);
    }
    await this.io.fsyncDir(dirname(path)).catch((err) => {
      throw this.mapError(err, "delete", key);
    });
  }

  /**
   * Removes temp files left by writers that died mid-put (SIGKILL, power loss): a temp file
   * whose writer pid is no longer alive on this host. Temp files of live writers are kept.
   * Call at process start-up; returns the paths removed.
   */
  async sweepTempFiles(): Promise<string[]> {
    const removed: string[] = [];
    const visit = async (dir: string): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const path = join(dir, e.name);
        if (e.isDirectory()) await visit(path);
        else if (e.name.startsWith(TEMP_PREFIX)) {
          const pid = Number.parseInt(e.name.slice(TEMP_PREFIX.length).split("-")[0] ?? "", 10);
          if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) continue;
          await this.io.unlink(path).then(
            () => removed.push(path),
            () => undefined,
          );
        }
      }
    };
    await visit(this.root);
    return removed;
  }

  async close(): Promise<void> {}

  private mapError(err: unknown, operation: string, key: string): Error {
    if (err instanceof StorageError) return err;
    const code = errnoCode(err);
    if (code === "ENOTDIR" || code === "EISDIR") {
      return new StorageBackendError("fs", operation, key, {
        cause: new Error(
          `key collides with an existing object or prefix on the fs backend (${code}); fs cannot hold both "a" and "a/b"`,
        ),
      });
    }
    if (code !== undefined && TRANSIENT.has(code))
      return new StorageUnavailableError("fs", operation, key, { cause: err });
    return new StorageBackendError("fs", operation, key, { cause: err });
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM"; // exists, owned by someone else
  }
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The caller's buffer for a get, held to the contract (exact length) so a read cannot overrun. */
function checkedInto(into: (bytes: number) => Uint8Array, bytes: number): Uint8Array {
  const buf = into(bytes);
  if (buf.byteLength !== bytes) {
    throw new RangeError(`get into: the buffer holds ${buf.byteLength} bytes, the object ${bytes}`);
  }
  return buf;
}

/** The result of a put or copy that made `key` at `path` (a new, durable directory entry). */
function created(
  key: string,
  path: string,
  object: { readonly checksum: string; readonly bytes: number },
): PutResult {
  return {
    key,
    uri: pathToFileURL(path).href,
    checksum: object.checksum,
    bytes: object.bytes,
    created: true,
  };
}
