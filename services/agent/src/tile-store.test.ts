import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeTile, generateTile, type MatmulJobSpec } from "@tessera/matrix";
import { createObjectStore, type ObjectStore } from "@tessera/storage";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readTile, writeTile } from "./tile-store.js";

const spec: MatmulJobSpec = { n: 64, tile: 32, mode: "exact", seed: 3 };
const key = "jobs/j/partials/0-0-0.tile";
const encoded = (data: Float32Array) =>
  encodeTile(data, { rows: spec.tile, cols: spec.tile, mode: spec.mode });

let root: string;
let store: ObjectStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "tessera-tile-store-"));
  store = createObjectStore({ backend: "fs", root });
});
afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe("writeTile", () => {
  it("repairs a stored copy whose payload was corrupted but whose recorded checksum is intact", async () => {
    const data = generateTile(spec, "A", 0, 0);
    await writeTile(store, key, encoded(data));
    // Flip one payload byte in place: the fs store's trailer (recorded CRC) stays as it was, so
    // a plain idempotent put would see "same checksum, already there" and write nothing.
    const fh = await open(join(root, key), "r+");
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 100);
    b[0] = (b[0] ?? 0) ^ 0xff;
    await fh.write(b, 0, 1, 100);
    await fh.close();
    await expect(readTile(store, key, spec.tile)).rejects.toMatchObject({
      code: "TESSERA_E_STORAGE_CHECKSUM",
    });

    await writeTile(store, key, encoded(data));
    expect(Array.from(await readTile(store, key, spec.tile))).toEqual(Array.from(data));
  });

  it("leaves an intact copy alone", async () => {
    const data = generateTile(spec, "B", 0, 0);
    const first = await writeTile(store, key, encoded(data));
    const again = await writeTile(store, key, encoded(data));
    expect(again.checksum).toBe(first.checksum);
    expect(again.created).toBe(false);
  });
});
