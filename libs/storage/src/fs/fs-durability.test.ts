import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { payload } from "../conformance.test-helpers.js";
import { ChecksumMismatchError, ConflictError, UnverifiableObjectError } from "../errors.js";
import { SYNC_IO_MAX_BYTES } from "./fd-io.js";
import { type FsIo, nodeFsIo } from "./fs-io.js";
import { FsObjectStore } from "./fs-store.js";

/** Records every durability-relevant call, then performs it for real. */
function spyIo(log: string[]): FsIo {
  const note = <T>(entry: string, call: () => Promise<T>) => {
    log.push(entry);
    return call();
  };
  return {
    fsyncFile: (h, p) => note(`fsyncFile ${p}`, () => nodeFsIo.fsyncFile(h, p)),
    fsyncDir: (p) => note(`fsyncDir ${p}`, () => nodeFsIo.fsyncDir(p)),
    link: (a, b) => note(`link ${a} -> ${b}`, () => nodeFsIo.link(a, b)),
    rename: (a, b) => note(`rename ${a} -> ${b}`, () => nodeFsIo.rename(a, b)),
    unlink: (p) => note(`unlink ${p}`, () => nodeFsIo.unlink(p)),
  };
}

async function tempFilesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.name.startsWith(".tessera-tmp-")) found.push(join(e.parentPath, e.name));
  }
  return found;
}

describe("fs backend durability", () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "tessera-fs-durable-"));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  // Small objects are written with synchronous calls, large ones in the thread pool (fd-io.ts):
  // both must keep the same order.
  it.each([
    ["small", SYNC_IO_MAX_BYTES],
    ["large", SYNC_IO_MAX_BYTES + 1],
  ])(
    "%s object: fsyncs the temp file before linking it into place, then fsyncs the directory",
    async (_, bytes) => {
      const log: string[] = [];
      const store = new FsObjectStore({ root, io: spyIo(log) });
      await store.put("jobs/j1/C/0-0.tile", payload(bytes));
      const final = join(root, "jobs/j1/C/0-0.tile");
      const fsyncFile = log.findIndex((l) => l.startsWith("fsyncFile "));
      const link = log.findIndex((l) => l.startsWith("link ") && l.endsWith(`-> ${final}`));
      const fsyncDir = log.lastIndexOf(`fsyncDir ${dirname(final)}`);
      expect(fsyncFile).toBeGreaterThanOrEqual(0);
      expect(link).toBeGreaterThan(fsyncFile);
      expect(fsyncDir).toBeGreaterThan(link);
      // The file fsynced is the one linked: a temp file beside the target.
      const tmp = log[fsyncFile]?.slice("fsyncFile ".length) ?? "";
      expect(log[link]).toBe(`link ${tmp} -> ${final}`);
      expect(dirname(tmp)).toBe(dirname(final));
      // New directories are made durable too: each created dir's parent is fsynced.
      for (const d of [join(root, "jobs"), join(root, "jobs/j1"), join(root, "jobs/j1/C")]) {
        expect(log, d).toContain(`fsyncDir ${dirname(d)}`);
      }
      expect(await tempFilesUnder(root)).toEqual([]);
    },
  );

  it("copy links the object file into place and fsyncs the new directory: no bytes written", async () => {
    const store = new FsObjectStore({ root });
    const data = payload(1 << 20, 3);
    const src = await store.put("jobs/j1/partials/0-0-0.tile", data);
    const log: string[] = [];
    const spied = new FsObjectStore({ root, io: spyIo(log) });
    const res = await spied.copy("jobs/j1/partials/0-0-0.tile", "jobs/j1/C/0-0.tile", {
      expectedChecksum: src.checksum,
    });
    const from = join(root, "jobs/j1/partials/0-0-0.tile");
    const final = join(root, "jobs/j1/C/0-0.tile");
    expect(res).toMatchObject({ checksum: src.checksum, bytes: data.length, created: true });
    expect(log.filter((l) => l.startsWith("fsyncFile "))).toEqual([]);
    const link = log.indexOf(`link ${from} -> ${final}`);
    expect(link).toBeGreaterThanOrEqual(0);
    expect(log.lastIndexOf(`fsyncDir ${dirname(final)}`)).toBeGreaterThan(link);
    // The new directory itself was made durable in its parent before the link.
    expect(log.indexOf(`fsyncDir ${join(root, "jobs/j1")}`)).toBeLessThan(link);
  });

  it("copy without hard links (EXDEV, EPERM…) reads the source and puts its bytes", async () => {
    const store = new FsObjectStore({ root });
    const data = payload(1 << 16, 4);
    await store.put("a/src", data);
    const log: string[] = [];
    const noLinks: FsIo = {
      ...spyIo(log),
      link: async () => {
        throw Object.assign(new Error("EXDEV: cross-device link not permitted"), { code: "EXDEV" });
      },
    };
    const res = await new FsObjectStore({ root, io: noLinks }).copy("a/src", "b/dst");
    expect(res).toMatchObject({ bytes: data.length, created: true });
    expect(log.some((l) => l.startsWith("rename "))).toBe(true);
    expect(Buffer.from(await store.get("b/dst")).equals(data)).toBe(true);
  });

  it("get reads into the caller's buffer when asked, and refuses one of the wrong size", async () => {
    const store = new FsObjectStore({ root });
    const data = payload(1 << 16);
    await store.put("jobs/j1/C/0-1.tile", data);
    const mine = Buffer.alloc(data.byteLength, 0xee);
    const got = await store.get("jobs/j1/C/0-1.tile", { into: () => mine });
    expect(got).toBe(mine);
    expect(Buffer.from(got).equals(data)).toBe(true);
    await expect(
      store.get("jobs/j1/C/0-1.tile", { into: (n) => Buffer.alloc(n + 1) }),
    ).rejects.toThrow(/holds 65537 bytes, the object 65536/);
  });

  it("an idempotent retry writes and fsyncs nothing", async () => {
    const log: string[] = [];
    const store = new FsObjectStore({ root, io: spyIo(log) });
    await store.put("a/b", payload(1000));
    log.length = 0;
    const again = await store.put("a/b", payload(1000));
    expect(again.created).toBe(false);
    expect(log).toEqual([]);
  });

  it("a directory removed by hand after a put is made again (and fsynced) by the next put", async () => {
    const log: string[] = [];
    const store = new FsObjectStore({ root, io: spyIo(log) });
    await store.put("jobs/j2/C/0-0.tile", payload(1000));
    await rm(join(root, "jobs/j2"), { recursive: true, force: true });
    log.length = 0;
    const r = await store.put("jobs/j2/C/0-1.tile", payload(1000, 2));
    expect(r.created).toBe(true);
    expect(await store.get("jobs/j2/C/0-1.tile")).toEqual(payload(1000, 2));
    for (const d of [join(root, "jobs/j2"), join(root, "jobs/j2/C")]) {
      expect(log, d).toContain(`fsyncDir ${dirname(d)}`);
    }
    expect(await tempFilesUnder(root)).toEqual([]);
  });

  it("a directory another writer made is still fsynced (up to the root) before a put in it succeeds", async () => {
    // Another agent sharing the root created it, and may not have fsynced it yet.
    await mkdir(join(root, "jobs/j3/C"), { recursive: true });
    const log: string[] = [];
    const store = new FsObjectStore({ root, io: spyIo(log) });
    await store.put("jobs/j3/C/0-0.tile", payload(1000));
    const link = log.findIndex((l) => l.startsWith("link "));
    for (const d of [root, join(root, "jobs"), join(root, "jobs/j3")]) {
      const at = log.indexOf(`fsyncDir ${d}`);
      expect(at, d).toBeGreaterThanOrEqual(0);
      expect(at, d).toBeLessThan(link);
    }
  });

  it("concurrent writers of one key: exactly one creates it, equal bytes all succeed", async () => {
    const store = new FsObjectStore({ root });
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        store.putStream("race/x", Readable.from([payload(300_000, 3)])),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const mixed = await Promise.allSettled([
      store.putStream("race/y", Readable.from([payload(300_000, 4)])),
      store.putStream("race/y", Readable.from([payload(300_000, 5)])),
    ]);
    expect(mixed.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = mixed.find((r) => r.status === "rejected");
    expect(rejected?.status === "rejected" && rejected.reason).toBeInstanceOf(ConflictError);
    expect(await tempFilesUnder(root)).toEqual([]);
  });

  it("a stream that fails mid-write leaves no temp file and no object", async () => {
    const store = new FsObjectStore({ root });
    async function* failing() {
      yield payload(5 << 20);
      throw new Error("source died");
    }
    await expect(store.putStream("broken/x", failing())).rejects.toThrow("source died");
    expect(await store.head("broken/x")).toBeNull();
    expect(await tempFilesUnder(root)).toEqual([]);
  });

  it("a writer SIGKILLed mid-put leaves only a temp file, which sweepTempFiles removes", async () => {
    // The child runs the BUILT package (dist/), like any process a test spawns.
    const dist = resolve(dirname(fileURLToPath(import.meta.url)), "../../dist/index.js");
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { FsObjectStore } from ${JSON.stringify(dist)};
         import { Readable } from "node:stream";
         const store = new FsObjectStore({ root: process.argv[1] });
         // An endless slow stream: the put can never finish, only be killed.
         const src = new Readable({ read() { setTimeout(() => this.push(Buffer.alloc(1 << 20, 7)), 5); } });
         setTimeout(() => process.stdout.write("writing\\n"), 300);
         await store.putStream("crash/x", src);`,
        root,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((res, rej) => {
      child.stdout.once("data", () => res());
      child.once("exit", (c) => rej(new Error(`child exited early (${c}); is dist/ built?`)));
    });
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    const leftovers = await tempFilesUnder(root);
    expect(leftovers).toHaveLength(1);
    const store = new FsObjectStore({ root });
    expect(await store.head("crash/x")).toBeNull();
    expect(await store.sweepTempFiles()).toEqual(leftovers);
    expect(await tempFilesUnder(root)).toEqual([]);
    // A temp file of a live writer (this process) is not touched.
    const live = join(root, "crash", `.tessera-tmp-${process.pid}-abc`);
    await writeFile(live, "x");
    expect(await store.sweepTempFiles()).toEqual([]);
  });

  it("reads verify every byte on both sides of the synchronous-read limit", async () => {
    const store = new FsObjectStore({ root });
    for (const bytes of [SYNC_IO_MAX_BYTES, SYNC_IO_MAX_BYTES + 1]) {
      const key = `sizes/${bytes}`;
      const data = payload(bytes, 3);
      await store.put(key, data);
      expect(Buffer.from(await store.get(key)).equals(data), `${bytes}`).toBe(true);
      // Flip the last payload byte: the trailer still claims the old checksum.
      const path = join(root, key);
      const onDisk = await readFile(path);
      onDisk[bytes - 1] = (onDisk[bytes - 1] ?? 0) ^ 0x80;
      await writeFile(path, onDisk);
      await expect(store.get(key), `${bytes}`).rejects.toBeInstanceOf(ChecksumMismatchError);
    }
  });

  it("a file without a checksum trailer is refused, not returned", async () => {
    const store = new FsObjectStore({ root });
    await writeFile(
      join(root, "foreign"),
      "written by another tool, long enough to hold a trailer",
    );
    await expect(store.get("foreign")).rejects.toBeInstanceOf(UnverifiableObjectError);
    await writeFile(join(root, "tiny"), "short");
    await expect(store.get("tiny")).rejects.toMatchObject({
      code: "TESSERA_E_STORAGE_UNVERIFIABLE",
      key: "tiny",
    });
  });
});
