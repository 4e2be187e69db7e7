/**
 * The fs backend appends a 16-byte trailer to every object file:
 *   bytes 0..3   magic "TSC1"
 *   bytes 4..7   CRC32C of the payload, big-endian
 *   bytes 8..15  payload length, big-endian uint64
 * A trailer (not a sidecar file) keeps data and checksum in ONE file, so a single atomic
 * link/rename publishes both; a trailer (not a header) lets a stream be written before its
 * checksum is known. Pure code: no I/O.
 */
export const TRAILER_BYTES = 16;
const MAGIC = 0x54534331; // "TSC1"

export interface Trailer {
  readonly checksum: string;
  readonly bytes: number;
}

export function encodeTrailer(checksumHex: string, bytes: number): Buffer {
  const b = Buffer.alloc(TRAILER_BYTES);
  b.writeUInt32BE(MAGIC, 0);
  b.writeUInt32BE(Number.parseInt(checksumHex, 16) >>> 0, 4);
  b.writeBigUInt64BE(BigInt(bytes), 8);
  return b;
}

/** Decodes a trailer, or returns a reason why these 16 bytes are not one. */
export function decodeTrailer(b: Uint8Array): Trailer | { problem: string } {
  if (b.byteLength !== TRAILER_BYTES)
    return { problem: "file is shorter than the checksum trailer" };
  const view = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (view.readUInt32BE(0) !== MAGIC) return { problem: "file has no Tessera checksum trailer" };
  const checksum = view.readUInt32BE(4).toString(16).padStart(8, "0");
  const bytes = view.readBigUInt64BE(8);
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) return { problem: "trailer length is out of range" };
  return { checksum, bytes: Number(bytes) };
}
