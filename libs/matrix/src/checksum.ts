import { crc32c } from "@node-rs/crc32";

/** CRC32C of bytes as a uint32 (hardware-accelerated via @node-rs/crc32). */
export function crc32cOf(bytes: Uint8Array): number {
  return crc32c(bytes) >>> 0;
}

/** Contract rendering of a checksum: 8 lowercase hex characters. */
export function formatCrc32c(value: number): string {
  return (value >>> 0).toString(16).padStart(8, "0");
}

/** CRC32C of bytes rendered as 8 lowercase hex characters. */
export function crc32cHex(bytes: Uint8Array): string {
  return formatCrc32c(crc32cOf(bytes));
}

const CRC_HEX = /^[0-9a-f]{8}$/;

export function isCrc32cHex(value: string): boolean {
  return CRC_HEX.test(value);
}
