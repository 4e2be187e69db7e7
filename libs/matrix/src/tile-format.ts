import { crc32cOf, formatCrc32c } from "./checksum.js";
import { MatrixErrorCode, TileChecksumError, TileFormatError } from "./errors.js";
import type { ComputeMode, MatmulMode } from "./spec.js";

/**
 * Tile file, version 1 — a fixed 64-byte little-endian header followed by the payload:
 *
 * | off | size | field                                                         |
 * |-----|------|---------------------------------------------------------------|
 * |   0 |   4  | magic "TSRT"                                                  |
 * |   4 |   2  | format version (1)                                            |
 * |   6 |   2  | header length in bytes (64)                                   |
 * |   8 |   4  | rows (u32, ≥ 1)                                               |
 * |  12 |   4  | cols (u32, ≥ 1)                                               |
 * |  16 |   1  | dtype (1 = float32)                                           |
 * |  17 |   1  | mode (0 = unspecified, 1 = exact, 2 = float)                  |
 * |  18 |   2  | flags (0; reserved)                                           |
 * |  20 |   4  | CRC32C of the payload                                         |
 * |  24 |   8  | payload length in bytes (u64; = rows·cols·4)                  |
 * |  32 |   4  | CRC32C of the header with this field zeroed                   |
 * |  36 |  28  | reserved, zero                                                |
 * |  64 |  …   | rows·cols float32, row-major, little-endian                   |
 *
 * The header has its own CRC so a flipped bit anywhere in the file — not only in the payload —
 * fails decoding. Encoding is deterministic (no timestamps), so a tile's bytes, and therefore
 * its storage checksum, are a pure function of its values: idempotent writes rely on that.
 */

export const TILE_MAGIC = "TSRT";
export const TILE_FORMAT_VERSION = 1;
export const TILE_HEADER_BYTES = 64;
export const TILE_DTYPE_FLOAT32 = 1;

/** Tiles exist only for the modes that compute ("empty" jobs store nothing). */
export type TileMode = ComputeMode | "unspecified";

/** The mode written in a job's tiles; an "empty" job has none (its tasks store nothing). */
export function tileModeOf(mode: MatmulMode): TileMode {
  if (mode === "empty") {
    throw new TileFormatError(MatrixErrorCode.JobSpecInvalid, 'a job of mode "empty" has no tiles');
  }
  return mode;
}

const MODE_CODE: Record<TileMode, number> = { unspecified: 0, exact: 1, float: 2 };
const MODE_OF_CODE: readonly TileMode[] = ["unspecified", "exact", "float"];

const MAGIC_U32 = 0x54525354; // "TSRT" read as a little-endian u32
const OFF_VERSION = 4;
const OFF_HEADER_LEN = 6;
const OFF_ROWS = 8;
const OFF_COLS = 12;
const OFF_DTYPE = 16;
const OFF_MODE = 17;
const OFF_FLAGS = 18;
const OFF_PAYLOAD_CRC = 20;
const OFF_PAYLOAD_LEN = 24;
const OFF_HEADER_CRC = 32;
const OFF_RESERVED = 36;

/** Big-endian hosts are rare, but the file is little-endian everywhere: swap there. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export interface TileHeader {
  readonly version: number;
  readonly rows: number;
  readonly cols: number;
  readonly dtype: "float32";
  readonly mode: TileMode;
  /** CRC32C of the payload, 8 lowercase hex. */
  readonly payloadChecksum: string;
  readonly payloadBytes: number;
}

export interface DecodedTile {
  readonly header: TileHeader;
  /**
   * Row-major values. A zero-copy view over the input buffer when the payload is 4-byte aligned
   * on a little-endian host (so it aliases the input: do not mutate one and expect the other to
   * stay put); a fresh copy otherwise.
   */
  readonly data: Float32Array;
}

export interface EncodeTileOptions {
  readonly rows: number;
  readonly cols: number;
  readonly mode?: TileMode;
}

export interface DecodeTileExpectations {
  readonly rows?: number;
  readonly cols?: number;
  readonly mode?: TileMode;
  /**
   * The caller already checked these exact bytes against a checksum of the whole tile file
   * (an ObjectStore `get` checks every object against the CRC32C recorded when it was written):
   * the payload CRC, which covers a subset of those bytes, is then not computed a second time.
   * The header (its own CRC included), the shape and the length are still checked.
   */
  readonly bytesVerified?: boolean;
}

function checkDim(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1 || v > 0xffff_ffff) {
    throw new TileFormatError(
      MatrixErrorCode.TileShape,
      `tile ${name} = ${v} must be an integer ≥ 1`,
    );
  }
}

/** Writes `data` (row-major rows×cols float32) as a tile file. */
export function encodeTile(data: Float32Array, options: EncodeTileOptions): Uint8Array {
  const { rows, cols } = options;
  checkDim("rows", rows);
  checkDim("cols", cols);
  if (data.length !== rows * cols) {
    throw new TileFormatError(
      MatrixErrorCode.TileShape,
      `tile data has ${data.length} elements, rows × cols = ${rows * cols}`,
    );
  }
  const tile = allocateTile(rows, cols);
  tile.bytes
    .subarray(TILE_HEADER_BYTES)
    .set(new Uint8Array(data.buffer, data.byteOffset, data.length * 4));
  return sealTile(tile, options);
}

/** A tile file under construction: `data` is where the values go (see allocateTile). */
export interface TileUnderConstruction {
  /** The whole file: header (written by sealTile) then payload. */
  readonly bytes: Uint8Array;
  /** rows·cols float32 values, a view over the payload of `bytes` on a little-endian host. */
  readonly data: Float32Array;
}

/** Bytes of a tile file of rows × cols float32 values (header + payload). */
export function tileFileBytes(rows: number, cols: number): number {
  checkDim("rows", rows);
  checkDim("cols", cols);
  return TILE_HEADER_BYTES + rows * cols * 4;
}

/**
 * Allocates a tile file whose payload a producer (a kernel) writes in place, so the result is
 * not copied into a second multi-MiB buffer before it is stored. Fill `data`, then `sealTile`.
 * `alloc`, when given, supplies the file's buffer (e.g. a reused one; its old content does not
 * matter as long as the producer writes every value): it must return exactly the bytes asked for.
 */
export function allocateTile(
  rows: number,
  cols: number,
  alloc?: (bytes: number) => Uint8Array,
): TileUnderConstruction {
  const fileBytes = tileFileBytes(rows, cols);
  const bytes = alloc ? alloc(fileBytes) : new Uint8Array(fileBytes);
  if (bytes.byteLength !== fileBytes || bytes.byteOffset % 4 !== 0) {
    throw new TileFormatError(
      MatrixErrorCode.TileShape,
      `tile buffer: ${bytes.byteLength} bytes at offset ${bytes.byteOffset}, need ${fileBytes} at a 4-byte-aligned offset`,
    );
  }
  const data = HOST_IS_LITTLE_ENDIAN
    ? new Float32Array(bytes.buffer, bytes.byteOffset + TILE_HEADER_BYTES, rows * cols)
    : new Float32Array(rows * cols); // big-endian: sealTile stores it byte-swapped
  return { bytes, data };
}

/**
 * Writes the header (payload checksum, shape, mode) of a tile from allocateTile and returns its
 * bytes. On a big-endian host the values are stored little-endian here.
 */
export function sealTile(tile: TileUnderConstruction, options: EncodeTileOptions): Uint8Array {
  const { rows, cols } = options;
  const mode = options.mode ?? "unspecified";
  checkDim("rows", rows);
  checkDim("cols", cols);
  const payloadBytes = rows * cols * 4;
  const out = tile.bytes;
  if (out.length !== TILE_HEADER_BYTES + payloadBytes || tile.data.length !== rows * cols) {
    throw new TileFormatError(
      MatrixErrorCode.TileShape,
      `tile buffer holds ${tile.data.length} elements, rows × cols = ${rows * cols}`,
    );
  }
  if (MODE_CODE[mode] === undefined) {
    throw new TileFormatError(MatrixErrorCode.TileHeader, `tile mode ${String(mode)} is unknown`);
  }
  const payload = out.subarray(TILE_HEADER_BYTES);
  if (!HOST_IS_LITTLE_ENDIAN) {
    payload.set(new Uint8Array(tile.data.buffer, tile.data.byteOffset, payloadBytes));
    byteswap32(payload);
  }

  // Reserved header bytes must read zero, and the buffer may be a reused one (allocateTile).
  out.fill(0, 0, TILE_HEADER_BYTES);
  const view = new DataView(out.buffer, out.byteOffset, TILE_HEADER_BYTES);
  view.setUint32(0, MAGIC_U32, true);
  view.setUint16(OFF_VERSION, TILE_FORMAT_VERSION, true);
  view.setUint16(OFF_HEADER_LEN, TILE_HEADER_BYTES, true);
  view.setUint32(OFF_ROWS, rows, true);
  view.setUint32(OFF_COLS, cols, true);
  view.setUint8(OFF_DTYPE, TILE_DTYPE_FLOAT32);
  view.setUint8(OFF_MODE, MODE_CODE[mode]);
  view.setUint16(OFF_FLAGS, 0, true);
  view.setUint32(OFF_PAYLOAD_CRC, crc32cOf(payload), true);
  view.setBigUint64(OFF_PAYLOAD_LEN, BigInt(payloadBytes), true);
  view.setUint32(OFF_HEADER_CRC, 0, true);
  view.setUint32(OFF_HEADER_CRC, crc32cOf(out.subarray(0, TILE_HEADER_BYTES)), true);
  return out;
}

/**
 * Parses and fully validates a tile file: magic, version, header checksum, dtype/mode, shape
 * against payload length (and against `expect`), exact total length, payload checksum (unless
 * `expect.bytesVerified`).
 * Throws `TileFormatError` / `TileChecksumError` (codes TESSERA_E_TILE_*); never returns bad bytes.
 */
export function decodeTile(bytes: Uint8Array, expect: DecodeTileExpectations = {}): DecodedTile {
  const header = readTileHeader(bytes, expect);
  const payloadEnd = TILE_HEADER_BYTES + header.payloadBytes;
  if (bytes.length < payloadEnd) {
    throw new TileFormatError(
      MatrixErrorCode.TileTruncated,
      `tile is truncated: ${bytes.length} bytes, header + payload need ${payloadEnd}`,
    );
  }
  if (bytes.length > payloadEnd) {
    throw new TileFormatError(
      MatrixErrorCode.TileLength,
      `tile has ${bytes.length - payloadEnd} trailing bytes after the payload`,
    );
  }
  const payload = bytes.subarray(TILE_HEADER_BYTES, payloadEnd);
  if (expect.bytesVerified === true) return { header, data: payloadToFloat32(payload) };
  const actual = formatCrc32c(crc32cOf(payload));
  if (actual !== header.payloadChecksum) {
    throw new TileChecksumError(
      MatrixErrorCode.TileChecksum,
      "payload",
      header.payloadChecksum,
      actual,
    );
  }
  return { header, data: payloadToFloat32(payload) };
}

/**
 * Reads and validates only the header (everything but the payload checksum and the total
 * length), e.g. to learn a tile's shape before streaming its payload.
 */
export function readTileHeader(bytes: Uint8Array, expect: DecodeTileExpectations = {}): TileHeader {
  if (bytes.length < TILE_HEADER_BYTES) {
    throw new TileFormatError(
      MatrixErrorCode.TileTruncated,
      `tile is truncated: ${bytes.length} bytes, the header alone is ${TILE_HEADER_BYTES}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, TILE_HEADER_BYTES);
  if (view.getUint32(0, true) !== MAGIC_U32) {
    throw new TileFormatError(
      MatrixErrorCode.TileMagic,
      `not a tile file: magic is not "${TILE_MAGIC}"`,
    );
  }
  const version = view.getUint16(OFF_VERSION, true);
  if (version !== TILE_FORMAT_VERSION) {
    throw new TileFormatError(
      MatrixErrorCode.TileVersion,
      `tile format version ${version} is not supported (this build reads ${TILE_FORMAT_VERSION})`,
    );
  }
  const headerLen = view.getUint16(OFF_HEADER_LEN, true);
  if (headerLen !== TILE_HEADER_BYTES) {
    throw new TileFormatError(
      MatrixErrorCode.TileVersion,
      `tile header length ${headerLen} is not ${TILE_HEADER_BYTES} for version ${version}`,
    );
  }
  const storedHeaderCrc = view.getUint32(OFF_HEADER_CRC, true);
  // A real copy: `bytes` may be a Node Buffer, whose slice() is a view (zeroing the CRC field in
  // it would change the caller's bytes) and which may sit at an offset in a shared pool.
  const copy = Uint8Array.prototype.slice.call(bytes, 0, TILE_HEADER_BYTES);
  new DataView(copy.buffer, copy.byteOffset, TILE_HEADER_BYTES).setUint32(OFF_HEADER_CRC, 0, true);
  const actualHeaderCrc = crc32cOf(copy);
  if (actualHeaderCrc !== storedHeaderCrc) {
    throw new TileChecksumError(
      MatrixErrorCode.TileHeaderChecksum,
      "header",
      formatCrc32c(storedHeaderCrc),
      formatCrc32c(actualHeaderCrc),
    );
  }
  const dtype = view.getUint8(OFF_DTYPE);
  if (dtype !== TILE_DTYPE_FLOAT32) {
    throw new TileFormatError(
      MatrixErrorCode.TileHeader,
      `tile dtype ${dtype} is unknown (1 = float32)`,
    );
  }
  const mode = MODE_OF_CODE[view.getUint8(OFF_MODE)];
  if (mode === undefined) {
    throw new TileFormatError(
      MatrixErrorCode.TileHeader,
      `tile mode ${view.getUint8(OFF_MODE)} is unknown`,
    );
  }
  if (view.getUint16(OFF_FLAGS, true) !== 0) {
    throw new TileFormatError(MatrixErrorCode.TileHeader, "tile flags are set; none are defined");
  }
  for (let off = OFF_RESERVED; off < TILE_HEADER_BYTES; off++) {
    if (view.getUint8(off) !== 0) {
      throw new TileFormatError(
        MatrixErrorCode.TileHeader,
        `tile reserved byte ${off} is not zero`,
      );
    }
  }
  const rows = view.getUint32(OFF_ROWS, true);
  const cols = view.getUint32(OFF_COLS, true);
  const payloadBytes = Number(view.getBigUint64(OFF_PAYLOAD_LEN, true));
  if (rows === 0 || cols === 0 || payloadBytes !== rows * cols * 4) {
    throw new TileFormatError(
      MatrixErrorCode.TileShape,
      `tile shape ${rows}×${cols} does not match its payload length ${payloadBytes}`,
    );
  }
  if (
    (expect.rows !== undefined && expect.rows !== rows) ||
    (expect.cols !== undefined && expect.cols !== cols)
  ) {
    throw new TileFormatError(
      MatrixErrorCode.TileShape,
      `tile is ${rows}×${cols}, expected ${expect.rows ?? "any"}×${expect.cols ?? "any"}`,
    );
  }
  if (expect.mode !== undefined && expect.mode !== mode) {
    throw new TileFormatError(
      MatrixErrorCode.TileHeader,
      `tile mode is ${mode}, expected ${expect.mode}`,
    );
  }
  return {
    version,
    rows,
    cols,
    dtype: "float32",
    mode,
    payloadChecksum: formatCrc32c(view.getUint32(OFF_PAYLOAD_CRC, true)),
    payloadBytes,
  };
}

function payloadToFloat32(payload: Uint8Array): Float32Array {
  const count = payload.length / 4;
  if (HOST_IS_LITTLE_ENDIAN && payload.byteOffset % 4 === 0) {
    return new Float32Array(payload.buffer, payload.byteOffset, count);
  }
  const copy = new Uint8Array(payload.length);
  copy.set(payload);
  if (!HOST_IS_LITTLE_ENDIAN) byteswap32(copy);
  return new Float32Array(copy.buffer, 0, count);
}

function byteswap32(bytes: Uint8Array): void {
  for (let p = 0; p + 3 < bytes.length; p += 4) {
    const b0 = bytes[p]!;
    const b1 = bytes[p + 1]!;
    bytes[p] = bytes[p + 3]!;
    bytes[p + 1] = bytes[p + 2]!;
    bytes[p + 2] = b1;
    bytes[p + 3] = b0;
  }
}
