import { crc32c } from "@node-rs/crc32";

/**
 * CRC32C (Castagnoli) via @node-rs/crc32, which uses SSE4.2 / ARMv8 CRC instructions.
 * It is the checksum S3 and GCS verify natively, so the same value travels end to end.
 * Rendered as 8 lowercase hex digits everywhere in Tessera.
 */
export function crc32cHex(data: Uint8Array): string {
  return toHex(crc32c(data));
}

export function toHex(crc: number): string {
  return (crc >>> 0).toString(16).padStart(8, "0");
}

export function fromHex(hex: string): number {
  return Number.parseInt(hex, 16) >>> 0;
}

const HEX8 = /^[0-9a-f]{8}$/;
export function isChecksumHex(value: unknown): value is string {
  return typeof value === "string" && HEX8.test(value);
}

/** Base64 of the big-endian 4 bytes: the `x-amz-checksum-crc32c` / GCS `crc32c` encoding. */
export function hexToBase64(hex: string): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(fromHex(hex));
  return b.toString("base64");
}

export function base64ToHex(b64: string): string | undefined {
  const b = Buffer.from(b64, "base64");
  if (b.length !== 4) return undefined;
  return toHex(b.readUInt32BE(0));
}

/** Incremental CRC32C over chunks as they stream past; also counts bytes. */
export class Crc32cAccumulator {
  private state = 0;
  private count = 0;
  update(chunk: Uint8Array): void {
    this.state = crc32c(chunk, this.state);
    this.count += chunk.byteLength;
  }
  get bytes(): number {
    return this.count;
  }
  get hex(): string {
    return toHex(this.state);
  }
}
