/**
 * The one conformance suite every ObjectStore backend must pass. A backend's test file calls
 * `describeConformance` with a factory that opens the store and knows how to damage stored
 * bytes behind the store's back (to prove corruption is caught on read).
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32cHex } from "./checksum.js";
import {
  ChecksumMismatchError,
  ConflictError,
  InvalidKeyError,
  ObjectNotFoundError,
} from "./errors.js";
import type { ObjectStore } from "./object-store.js";

export interface ConformanceTarget {
  readonly store: ObjectStore;
  /** URI scheme objects get, e.g. `file:`, `s3:`, `gs:`. */
  readonly scheme: string;
  /** Changes one stored payload byte of `key` (same length), bypassing the store. */
  corrupt(key: string): Promise<void>;
  /** Stops servers, removes temp dirs. */
  teardown(): Promise<void>;
}

/** Deterministic bytes: a tile-like payload whose content depends on the seed only. */
export function payload(bytes: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= bytes; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  for (let i = bytes - (bytes % 4); i < bytes; i++) b[i] = i & 0xff;
  return b;
}

/** A stream of `total` bytes in `chunk`-sized pieces, generated on the fly. */
export function payloadStream(total: number, chunk: number, seed = 1): Readable {
  const whole = payload(Math.min(total, chunk), seed);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, total - sent);
      // Vary each chunk so a reordered or dropped chunk changes the checksum.
      const piece = Buffer.from(whole.subarray(0, n));
      piece.writeUInt32LE(sent / chunk, 0);
      sent += n;
      this.push(piece);
    },
  });
}

async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function collectKeys(
  store: ObjectStore,
  prefix: string,
  pageSize?: number,
): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of store.list(prefix, pageSize === undefined ? {} : { pageSize }))
    keys.push(e.key);
  return keys;
}

export function describeConformance(
  name: string,
  open: () => Promise<ConformanceTarget>,
  options: {
    largeObjectBytes?: number;
    /**
     * False for servers that list in directory-walk order rather than byte order (s3rver:
     * `a/1` before `a-b`, and its pagination then skips keys). Real S3 and GCS are strict.
     */
    strictListOrder?: boolean;
  } = {},
): void {
  const large = options.largeObjectBytes ?? 64 * 1024 * 1024;
  describe(`ObjectStore conformance: ${name}`, () => {
    let t: ConformanceTarget;
    let store: ObjectStore;
    // Every run writes under a fresh prefix, so reruns against a kept server never collide.
    const run = `run-${randomBytes(4).toString("hex")}`;
    const k = (s: string) => `${run}/${s}`;

    beforeAll(async () => {
      t = await open();
      store = t.store;
    });
    afterAll(async () => {
      await store?.close();
      await t?.teardown();
    });

    it("put then get returns the same bytes, with crc32c, size and uri", async () => {
      const data = payload(100_003, 7);
      const res = await store.put(k("rt/a.tile"), data);
      expect(res).toMatchObject({
        key: k("rt/a.tile"),
        bytes: data.length,
        checksum: crc32cHex(data),
        created: true,
      });
      expect(res.checksum).toMatch(/^[0-9a-f]{8}$/);
      expect(res.uri.startsWith(t.scheme)).toBe(true);
      expect(res.uri).toBe(store.uri(k("rt/a.tile")));
      expect(Buffer.from(await store.get(k("rt/a.tile"))).equals(data)).toBe(true);
    });

    it("an empty object round-trips", async () => {
      const res = await store.put(k("rt/empty"), new Uint8Array(0));
      expect(res).toMatchObject({ bytes: 0, checksum: "00000000" });
      expect((await store.get(k("rt/empty"))).byteLength).toBe(0);
      expect(await drain(await store.getStream(k("rt/empty")))).toHaveLength(0);
    });

    it(`streams a ${large >> 20} MiB object in and out without changing a byte`, async () => {
      const expected = await drain(payloadStream(large, 1 << 20, 3));
      const res = await store.putStream(k("big/obj"), payloadStream(large, 1 << 20, 3));
      expect(res).toMatchObject({ bytes: large, checksum: crc32cHex(expected), created: true });
      const head = await store.head(k("big/obj"));
      expect(head).toMatchObject({ bytes: large, checksum: res.checksum });
      const streamed = await drain(await store.getStream(k("big/obj")));
      expect(streamed.equals(expected)).toBe(true);
      expect(Buffer.from(await store.get(k("big/obj"))).equals(expected)).toBe(true);
    });

    it("head reports size and checksum, and null for a missing key", async () => {
      const data = payload(4096, 11);
      await store.put(k("head/x"), data);
      expect(await store.head(k("head/x"))).toEqual({
        key: k("head/x"),
        uri: store.uri(k("head/x")),
        bytes: 4096,
        checksum: crc32cHex(data),
      });
      expect(await store.head(k("head/missing"))).toBeNull();
    });

    it("get of a missing key is ObjectNotFoundError naming the key", async () => {
      const err = await store.get(k("nope/x")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ObjectNotFoundError);
      expect(err).toMatchObject({ code: "TESSERA_E_STORAGE_NOT_FOUND", key: k("nope/x") });
      await expect(store.getStream(k("nope/x"))).rejects.toBeInstanceOf(ObjectNotFoundError);
    });

    it("lists keys under a prefix in order across pages", async () => {
      const keys = ["ls/a/1", "ls/a/2", "ls/b/c/d", "ls/b2", "ls/c", "ls/z"].map(k);
      for (const [i, key] of [...keys].reverse().entries())
        await store.put(key, payload(10 + i, i + 1));
      await store.put(k("lsx/outside"), payload(5));
      const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(await collectKeys(store, k("ls/"), 2)).toEqual(sorted);
      expect(await collectKeys(store, k("ls/"))).toEqual(sorted);
      // A prefix need not end at a segment boundary.
      expect(await collectKeys(store, k("ls/b"), 1)).toEqual(
        sorted.filter((x) => x.startsWith(k("ls/b"))),
      );
      expect(await collectKeys(store, k("ls/none/"))).toEqual([]);
      const entries = [];
      for await (const e of store.list(k("ls/b/"))) entries.push(e);
      expect(entries).toEqual([{ key: k("ls/b/c/d"), bytes: 13 }]);
    });

    it.skipIf(options.strictListOrder === false)(
      "lists in byte order when a key sorts between a directory and its contents (a-b < a/1 < a0)",
      async () => {
        const keys = ["lso/a/1", "lso/a-b", "lso/a0", "lso/a/2"].map(k);
        for (const key of keys) await store.put(key, payload(8));
        const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        expect(await collectKeys(store, k("lso/"), 1)).toEqual(sorted);
      },
    );

    it("delete removes the object and is idempotent", async () => {
      await store.put(k("del/x"), payload(100));
      await store.delete(k("del/x"));
      expect(await store.head(k("del/x"))).toBeNull();
      await expect(store.get(k("del/x"))).rejects.toBeInstanceOf(ObjectNotFoundError);
      await store.delete(k("del/x"));
      await store.delete(k("del/never-existed"));
      // The key is free again after a delete.
      const again = await store.put(k("del/x"), payload(50, 2));
      expect(again.created).toBe(true);
    });

    it("putting the same bytes again succeeds without rewriting (bytes and streams)", async () => {
      const data = payload(70_000, 5);
      const first = await store.put(k("idem/x"), data);
      const second = await store.put(k("idem/x"), Buffer.from(data));
      expect(second).toEqual({ ...first, created: false });
      const third = await store.putStream(
        k("idem/x"),
        Readable.from([data.subarray(0, 1000), data.subarray(1000)]),
      );
      expect(third).toMatchObject({ checksum: first.checksum, bytes: first.bytes, created: false });
    });

    it("putting other bytes under an existing key is ConflictError and keeps the original", async () => {
      const original = payload(2048, 21);
      const first = await store.put(k("conf/x"), original);
      const other = payload(2048, 22);
      const err = await store.put(k("conf/x"), other).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({
        code: "TESSERA_E_STORAGE_CONFLICT",
        key: k("conf/x"),
        existingChecksum: first.checksum,
        attemptedChecksum: crc32cHex(other),
      });
      await expect(store.putStream(k("conf/x"), Readable.from([other]))).rejects.toBeInstanceOf(
        ConflictError,
      );
      expect(Buffer.from(await store.get(k("conf/x"))).equals(original)).toBe(true);
    });

    it("detects a corrupted stored object on read and never returns its bytes", async () => {
      const data = payload(300_000, 31);
      const { checksum } = await store.put(k("bad/x"), data);
      await t.corrupt(k("bad/x"));
      const err = await store.get(k("bad/x")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChecksumMismatchError);
      expect(err).toMatchObject({
        code: "TESSERA_E_STORAGE_CHECKSUM",
        key: k("bad/x"),
        expected: checksum,
      });
      expect((err as ChecksumMismatchError).actual).not.toBe(checksum);
      // The stream variant delivers bytes as they come, but must end in the same error.
      // (A backend may also refuse before the first byte, when it can tell early.)
      await expect((async () => drain(await store.getStream(k("bad/x"))))()).rejects.toBeInstanceOf(
        ChecksumMismatchError,
      );
    });

    it("a put whose bytes differ from expectedChecksum fails and stores nothing", async () => {
      const data = payload(1000, 41);
      const wrong = crc32cHex(payload(1000, 42));
      await expect(store.put(k("exp/a"), data, { expectedChecksum: wrong })).rejects.toBeInstanceOf(
        ChecksumMismatchError,
      );
      await expect(
        store.putStream(k("exp/b"), Readable.from([data]), { expectedChecksum: wrong }),
      ).rejects.toBeInstanceOf(ChecksumMismatchError);
      expect(await store.head(k("exp/a"))).toBeNull();
      expect(await store.head(k("exp/b"))).toBeNull();
      const ok = await store.putStream(k("exp/c"), Readable.from([data]), {
        expectedChecksum: crc32cHex(data),
      });
      expect(ok).toMatchObject({ checksum: crc32cHex(data), created: true });
      expect(Buffer.from(await store.get(k("exp/c"))).equals(data)).toBe(true);
    });

    it("copy stores the source's bytes under a new key, and the copy outlives the source", async () => {
      const data = payload(300_001, 51);
      const src = await store.put(k("cp/src"), data);
      const copied = await store.copy(k("cp/src"), k("cp/dst"), { expectedChecksum: src.checksum });
      expect(copied).toEqual({
        key: k("cp/dst"),
        uri: store.uri(k("cp/dst")),
        checksum: src.checksum,
        bytes: data.length,
        created: true,
      });
      expect(await store.head(k("cp/dst"))).toMatchObject({
        checksum: src.checksum,
        bytes: data.length,
      });
      // Deleting the source (a job's partials are cleaned up) leaves the copy whole.
      await store.delete(k("cp/src"));
      expect(Buffer.from(await store.get(k("cp/dst"))).equals(data)).toBe(true);
    });

    it("copy is put-if-absent: same bytes succeed unwritten, other bytes conflict", async () => {
      const data = payload(4096, 52);
      await store.put(k("cpi/src"), data);
      await store.put(k("cpi/same"), Buffer.from(data));
      await store.put(k("cpi/other"), payload(4096, 53));
      const same = await store.copy(k("cpi/src"), k("cpi/same"));
      expect(same).toMatchObject({ checksum: crc32cHex(data), created: false });
      const again = await store.copy(k("cpi/src"), k("cpi/dst"));
      expect(await store.copy(k("cpi/src"), k("cpi/dst"))).toEqual({ ...again, created: false });
      const err = await store.copy(k("cpi/src"), k("cpi/other")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({ key: k("cpi/other"), attemptedChecksum: crc32cHex(data) });
      expect(Buffer.from(await store.get(k("cpi/other"))).equals(payload(4096, 53))).toBe(true);
    });

    it("copy of a missing source, or of other bytes than expected, stores nothing", async () => {
      const missing = await store.copy(k("cpm/none"), k("cpm/dst")).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(ObjectNotFoundError);
      expect(missing).toMatchObject({ key: k("cpm/none") });
      const data = payload(1000, 54);
      await store.put(k("cpm/src"), data);
      const wrong = crc32cHex(payload(1000, 55));
      const err = await store
        .copy(k("cpm/src"), k("cpm/dst"), { expectedChecksum: wrong })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChecksumMismatchError);
      expect(err).toMatchObject({ key: k("cpm/src"), expected: wrong, actual: crc32cHex(data) });
      expect(await store.head(k("cpm/dst"))).toBeNull();
      const bad = await store.copy(k("../x"), k("cpm/dst")).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(InvalidKeyError);
      const badOpt = await store
        .copy(k("cpm/src"), k("cpm/dst"), { expectedChecksum: "XYZ" })
        .catch((e: unknown) => e);
      expect((badOpt as Error).message).toContain("expectedChecksum");
    });

    it("rejects invalid keys with InvalidKeyError naming the key, before any I/O", async () => {
      const bad = [
        "",
        "/abs",
        "a/../b",
        "..",
        "a//b",
        "a/",
        "a/.hidden",
        "sp ace",
        "ünï",
        "a\\b",
        "x".repeat(1025),
      ];
      for (const key of bad) {
        for (const op of [
          () => store.put(key, payload(1)),
          () => store.get(key),
          () => store.head(key),
          () => store.delete(key),
          () => store.getStream(key),
        ]) {
          const err = await op().catch((e: unknown) => e);
          expect(err, JSON.stringify(key)).toBeInstanceOf(InvalidKeyError);
          expect((err as InvalidKeyError).key).toBe(key);
          expect((err as Error).message).toContain(JSON.stringify(key));
        }
      }
      await expect(collectKeys(store, "../")).rejects.toBeInstanceOf(InvalidKeyError);
      expect(() => store.uri("../x")).toThrow(InvalidKeyError);
    });
  });
}
