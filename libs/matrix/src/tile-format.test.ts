import { describe, expect, it } from "vitest";
import { crc32cHex } from "./checksum.js";
import { MatrixErrorCode, TileChecksumError, TileFormatError } from "./errors.js";
import { thrown } from "./errors.test-helpers.js";
import { generateTile } from "./generate.js";
import {
  allocateTile,
  decodeTile,
  encodeTile,
  readTileHeader,
  sealTile,
  TILE_HEADER_BYTES,
  tileModeOf,
} from "./tile-format.js";

function sample(rows: number, cols: number): Float32Array {
  const a = new Float32Array(rows * cols);
  for (let e = 0; e < a.length; e++) a[e] = (e % 7) - 3 + e / 1024;
  return a;
}

describe("tile format", () => {
  it("a tile sealed in a reused buffer full of old bytes decodes like a fresh one", () => {
    const data = sample(8, 12);
    const reused = new Uint8Array(TILE_HEADER_BYTES + 8 * 12 * 4).fill(0xa5);
    const tile = allocateTile(8, 12, () => reused);
    tile.data.set(data);
    const sealed = sealTile(tile, { rows: 8, cols: 12, mode: "exact" });
    expect(sealed.buffer).toBe(reused.buffer);
    expect(Array.from(decodeTile(sealed, { rows: 8, cols: 12 }).data)).toEqual(Array.from(data));
    expect(thrown(() => allocateTile(8, 12, () => new Uint8Array(10))).code).toBe(
      MatrixErrorCode.TileShape,
    );
  });

  it("a tile filled in place and sealed is byte-identical to one encoded from a copy", () => {
    const data = sample(8, 12);
    const tile = allocateTile(8, 12);
    tile.data.set(data);
    const sealed = sealTile(tile, { rows: 8, cols: 12, mode: "exact" });
    expect(
      Buffer.from(sealed).equals(
        Buffer.from(encodeTile(data, { rows: 8, cols: 12, mode: "exact" })),
      ),
    ).toBe(true);
    expect(Array.from(decodeTile(sealed, { rows: 8, cols: 12 }).data)).toEqual(Array.from(data));
    // Sealing is repeatable: a changed value is picked up by a second seal.
    tile.data[0] = 42;
    expect(decodeTile(sealTile(tile, { rows: 8, cols: 12, mode: "exact" })).data[0]).toBe(42);
    expect(thrown(() => sealTile(tile, { rows: 12, cols: 12 })).code).toBe(
      MatrixErrorCode.TileShape,
    );
  });

  it("round-trips shape, mode and every value bit-for-bit", () => {
    const data = generateTile({ n: 64, tile: 32, mode: "float", seed: 1 }, "A", 1, 1);
    const bytes = encodeTile(data, { rows: 32, cols: 32, mode: "float" });
    expect(bytes.length).toBe(TILE_HEADER_BYTES + 32 * 32 * 4);
    expect(Buffer.from(bytes.subarray(0, 4)).toString("ascii")).toBe("TSRT");
    const { header, data: back } = decodeTile(bytes, { rows: 32, cols: 32, mode: "float" });
    expect(header).toMatchObject({
      version: 1,
      rows: 32,
      cols: 32,
      dtype: "float32",
      mode: "float",
    });
    expect(header.payloadChecksum).toBe(crc32cHex(bytes.subarray(TILE_HEADER_BYTES)));
    expect(Array.from(back)).toEqual(Array.from(data));
    const odd = sample(3, 5);
    expect(Array.from(decodeTile(encodeTile(odd, { rows: 3, cols: 5 })).data)).toEqual(
      Array.from(odd),
    );
    expect(decodeTile(encodeTile(odd, { rows: 3, cols: 5 })).header.mode).toBe("unspecified");
  });

  it("writes a little-endian payload and identical bytes for identical values", () => {
    const bytes = encodeTile(new Float32Array([1]), { rows: 1, cols: 1 });
    // 1.0f = 0x3f800000, stored LE.
    expect(Array.from(bytes.subarray(TILE_HEADER_BYTES))).toEqual([0x00, 0x00, 0x80, 0x3f]);
    const data = sample(8, 8);
    expect(
      Buffer.compare(
        encodeTile(data, { rows: 8, cols: 8 }),
        encodeTile(data.slice(), { rows: 8, cols: 8 }),
      ),
    ).toBe(0);
  });

  it("decodes without copying when aligned, and correctly when not", () => {
    const data = sample(4, 4);
    const bytes = encodeTile(data, { rows: 4, cols: 4 });
    const aligned = decodeTile(bytes).data;
    expect(aligned.buffer).toBe(bytes.buffer);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const unaligned = decodeTile(shifted.subarray(1)).data;
    expect(unaligned.buffer).not.toBe(shifted.buffer);
    expect(Array.from(unaligned)).toEqual(Array.from(data));
  });

  it("decodes a small tile read into a pooled Node Buffer (non-zero offset) without changing it", () => {
    const data = sample(16, 16);
    const encoded = encodeTile(data, { rows: 16, cols: 16 });
    // Buffer.from(...) of < 4 KiB comes from Node's shared pool, at some offset into it; its
    // slice() is a view. This is how fs reads of small tiles arrive.
    Buffer.alloc(8); // moves the pool offset so it is not 0
    const pooled = Buffer.from(encoded);
    const before = Buffer.from(pooled);
    expect(Array.from(decodeTile(pooled, { rows: 16, cols: 16 }).data)).toEqual(Array.from(data));
    expect(Buffer.compare(pooled, before)).toBe(0);
    const atOffset = Buffer.concat([Buffer.alloc(12), encoded]).subarray(12);
    expect(Array.from(decodeTile(atOffset).data)).toEqual(Array.from(data));
  });

  it("fails decoding for a single flipped bit anywhere in the file", () => {
    const bytes = encodeTile(sample(4, 6), { rows: 4, cols: 6, mode: "exact" });
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const bad = bytes.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const err = thrown(() => decodeTile(bad));
      expect(err instanceof TileFormatError || err instanceof TileChecksumError).toBe(true);
      expect(err.code.startsWith("TESSERA_E_TILE_")).toBe(true);
    }
  });

  it("names what is wrong", () => {
    const good = encodeTile(sample(4, 4), { rows: 4, cols: 4, mode: "exact" });
    const payloadFlip = good.slice();
    payloadFlip[TILE_HEADER_BYTES + 5]! ^= 0x10;
    const e = thrown(() => decodeTile(payloadFlip));
    expect(e).toBeInstanceOf(TileChecksumError);
    expect(e.code).toBe(MatrixErrorCode.TileChecksum);

    const magic = good.slice();
    magic[0] = 0x58;
    expect(thrown(() => decodeTile(magic)).code).toBe(MatrixErrorCode.TileMagic);
    const version = good.slice();
    version[4] = 2;
    expect(thrown(() => decodeTile(version)).code).toBe(MatrixErrorCode.TileVersion);
    const rows = good.slice();
    rows[8] = 5;
    expect(thrown(() => decodeTile(rows)).code).toBe(MatrixErrorCode.TileHeaderChecksum);

    expect(thrown(() => decodeTile(good.subarray(0, 10))).code).toBe(MatrixErrorCode.TileTruncated);
    expect(thrown(() => decodeTile(good.subarray(0, good.length - 1))).code).toBe(
      MatrixErrorCode.TileTruncated,
    );
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expect(thrown(() => decodeTile(longer)).code).toBe(MatrixErrorCode.TileLength);
    expect(thrown(() => decodeTile(good, { rows: 8 })).code).toBe(MatrixErrorCode.TileShape);
    expect(thrown(() => decodeTile(good, { mode: "float" })).code).toBe(MatrixErrorCode.TileHeader);
    expect(readTileHeader(good).payloadBytes).toBe(64);
  });

  it("with bytesVerified (the store checked the whole file) skips only the payload CRC", () => {
    const good = encodeTile(sample(4, 4), { rows: 4, cols: 4, mode: "exact" });
    const trusted = { rows: 4, cols: 4, bytesVerified: true };
    expect(decodeTile(good, trusted).data).toEqual(decodeTile(good).data);
    // Header, shape and length are still checked: a misfiled or truncated object fails.
    const header = good.slice();
    header[8] = 5;
    expect(thrown(() => decodeTile(header, trusted)).code).toBe(MatrixErrorCode.TileHeaderChecksum);
    expect(thrown(() => decodeTile(good, { ...trusted, rows: 8 })).code).toBe(
      MatrixErrorCode.TileShape,
    );
    expect(thrown(() => decodeTile(good.subarray(0, good.length - 1), trusted)).code).toBe(
      MatrixErrorCode.TileTruncated,
    );
  });

  it("refuses to encode data that does not match the shape", () => {
    expect(thrown(() => encodeTile(sample(4, 4), { rows: 4, cols: 5 })).code).toBe(
      MatrixErrorCode.TileShape,
    );
    expect(thrown(() => encodeTile(new Float32Array(0), { rows: 0, cols: 0 })).code).toBe(
      MatrixErrorCode.TileShape,
    );
  });
});

describe("tileModeOf", () => {
  it("is the job's mode for jobs that compute; an empty job has no tiles", () => {
    expect(tileModeOf("exact")).toBe("exact");
    expect(tileModeOf("float")).toBe("float");
    const err = thrown(() => tileModeOf("empty"));
    expect(err).toBeInstanceOf(TileFormatError);
    expect(err.message).toContain('"empty" has no tiles');
  });
});
