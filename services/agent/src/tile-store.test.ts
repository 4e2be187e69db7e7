import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeTile, generateTile, inputKey, type MatmulJobSpec } from "@tessera/matrix";
import { createObjectStore, type ObjectStore } from "@tessera/storage";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyTile, readOrGenerateInput, readTile, writeTile } from "./tile-store.js";

const spec = { n: 64, tile: 32, mode: "exact", seed: 3 } as const satisfies MatmulJobSpec;
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

/**
 * Flips one payload byte in place: the fs store's trailer (recorded CRC) stays as it was, so a
 * plain idempotent put or copy would see "same checksum, already there" and write nothing.
 */
async function flipPayloadByte(k: string): Promise<void> {
  const fh = await open(join(root, k), "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, 100);
  b[0] = (b[0] ?? 0) ^ 0xff;
  await fh.write(b, 0, 1, 100);
  await fh.close();
}

describe("readOrGenerateInput", () => {
  it("generates and stores an absent input once, then reads the stored one", async () => {
    const want = generateTile(spec, "B", 1, 0);
    const first = await readOrGenerateInput(store, spec, "B", 1, 0);
    expect(first.generated).toBe(true);
    expect(first.data).toEqual(want);
    // What was stored is the encoded tile, byte for byte, and it reads back as the same values.
    expect(Buffer.from(await store.get(inputKey(spec, "B", 1, 0)))).toEqual(
      Buffer.from(encoded(want)),
    );
    const second = await readOrGenerateInput(store, spec, "B", 1, 0);
    expect(second).toEqual({ data: want, generated: false });
  });

  it("refuses a corrupt stored input instead of generating over it", async () => {
    await readOrGenerateInput(store, spec, "A", 0, 1);
    await flipPayloadByte(inputKey(spec, "A", 0, 1));
    await expect(readOrGenerateInput(store, spec, "A", 0, 1)).rejects.toMatchObject({
      code: "TESSERA_E_STORAGE_CHECKSUM",
    });
  });
});

describe("writeTile", () => {
  it("repairs a stored copy whose payload was corrupted but whose recorded checksum is intact", async () => {
    const data = generateTile(spec, "A", 0, 0);
    await writeTile(store, key, encoded(data));
    await flipPayloadByte(key);
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

describe("copyTile", () => {
  const out = "jobs/j/C/0-0.tile";

  it("stores the verified source under the output key; the output outlives the source", async () => {
    const data = generateTile(spec, "A", 0, 1);
    const src = await writeTile(store, key, encoded(data));
    const copied = await copyTile(store, key, out, src.checksum);
    expect(copied).toMatchObject({ key: out, checksum: src.checksum, created: true });
    await store.delete(key);
    expect(Array.from(await readTile(store, out, spec.tile))).toEqual(Array.from(data));
  });

  it("repairs an existing output whose payload was corrupted under an intact checksum", async () => {
    const data = generateTile(spec, "B", 1, 0);
    const src = await writeTile(store, key, encoded(data));
    await writeTile(store, out, encoded(data));
    await flipPayloadByte(out);
    await copyTile(store, key, out, src.checksum);
    expect(Array.from(await readTile(store, out, spec.tile))).toEqual(Array.from(data));
  });

  it("refuses a source that no longer holds the bytes the caller verified", async () => {
    const src = await writeTile(store, key, encoded(generateTile(spec, "A", 1, 1)));
    await expect(
      copyTile(store, key, out, src.checksum === "00000000" ? "00000001" : "00000000"),
    ).rejects.toMatchObject({ code: "TESSERA_E_STORAGE_CHECKSUM" });
    expect(await store.head(out)).toBeNull();
  });
});
