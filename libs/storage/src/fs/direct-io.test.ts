import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, open, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { crc32cHex } from "../checksum.js";
import { payload } from "../conformance.test-helpers.js";
import { ChecksumMismatchError } from "../errors.js";
import { DIRECT_IO_MIN_BYTES } from "./direct-io.js";
import { type FsIo, nodeFsIo } from "./fs-io.js";
import { FsObjectStore } from "./fs-store.js";
import { TRAILER_BYTES } from "./trailer.js";

/** Bytes of `path` in the page cache (util-linux fincore), or undefined without the tool. */
function residentBytes(path: string): number | undefined {
  try {
    const out = execFileSync("fincore", ["--bytes", "--noheadings", "--output", "RES", path]);
    return Number(out.toString().trim());
  } catch {
    return undefined;
  }
}

const hasFincore = residentBytes("/proc/self/exe") !== undefined;

describe("fs backend with direct I/O (TESSERA_FS_DIRECT_IO)", () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "tessera-fs-direct-"));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  // An odd size: neither the payload nor payload + trailer is a multiple of the 4 KiB the
  // direct transfers are padded to, so the truncation to the true size is exercised.
  const bytes = 3 * DIRECT_IO_MIN_BYTES + 5;

  it("writes a large object with O_DIRECT, fsynced before it is linked, read back by any reader", async () => {
    const log: string[] = [];
    const io: FsIo = {
      ...nodeFsIo,
      fsyncFile: (fd, p) => {
        log.push(`fsync ${p.includes(".tessera-tmp-") ? "temp" : p}`);
        return nodeFsIo.fsyncFile(fd, p);
      },
      link: (a, b) => {
        log.push("link");
        return nodeFsIo.link(a, b);
      },
    };
    const direct = new FsObjectStore({ root, directIo: true, io });
    const data = payload(bytes, 3);
    const res = await direct.put("jobs/j/partials/0-0-0.tile", data);
    expect(res).toMatchObject({ bytes, checksum: crc32cHex(data), created: true });
    // This file system took the direct transfer (tmpfs would have turned it off).
    expect(direct.directIo).toBe(true);
    expect(log).toEqual(["fsync temp", "link"]);

    const file = join(root, "jobs/j/partials/0-0-0.tile");
    expect((await stat(file)).size).toBe(bytes + TRAILER_BYTES);
    if (hasFincore) expect(residentBytes(file)).toBe(0);

    const buffered = new FsObjectStore({ root });
    expect(Buffer.from(await buffered.get("jobs/j/partials/0-0-0.tile")).equals(data)).toBe(true);
    const into = Buffer.alloc(bytes);
    const got = await direct.get("jobs/j/partials/0-0-0.tile", { into: () => into });
    expect(got).toBe(into);
    expect(into.equals(data)).toBe(true);
    // A retry of the same bytes finds the object and writes nothing.
    expect(await direct.put("jobs/j/partials/0-0-0.tile", data)).toMatchObject({ created: false });
  });

  it("reads objects written buffered, and still catches a flipped byte", async () => {
    const data = payload(bytes, 4);
    await new FsObjectStore({ root }).put("in/a.tile", data);
    const direct = new FsObjectStore({ root, directIo: true });
    expect(Buffer.from(await direct.get("in/a.tile")).equals(data)).toBe(true);
    expect(direct.directIo).toBe(true);

    // The damage sits in the page cache, not yet on the device: a direct read must see it.
    const h = await open(join(root, "in/a.tile"), "r+");
    await h.write(Buffer.from([(data[bytes - 7] ?? 0) ^ 0x10]), 0, 1, bytes - 7);
    await h.close();
    await expect(direct.get("in/a.tile")).rejects.toBeInstanceOf(ChecksumMismatchError);
  });

  it("keeps small objects in the page cache", async () => {
    const direct = new FsObjectStore({ root, directIo: true });
    const small = payload(DIRECT_IO_MIN_BYTES - 1, 5);
    await direct.put("s/x", small);
    if (hasFincore) expect(residentBytes(join(root, "s/x"))).toBeGreaterThan(0);
    expect(Buffer.from(await direct.get("s/x")).equals(small)).toBe(true);
  });

  it.skipIf(!existsSync("/dev/shm"))(
    "works on tmpfs, which refuses O_DIRECT before Linux 6.6 (the store then stays buffered)",
    async () => {
      const shm = await mkdtemp("/dev/shm/tessera-fs-direct-");
      try {
        const direct = new FsObjectStore({ root: shm, directIo: true });
        const data = payload(bytes, 6);
        await direct.put("a/b.tile", data);
        expect(Buffer.from(await direct.get("a/b.tile")).equals(data)).toBe(true);
        expect(await readdir(join(shm, "a"))).toEqual(["b.tile"]);
      } finally {
        await rm(shm, { recursive: true, force: true });
      }
    },
  );
});
