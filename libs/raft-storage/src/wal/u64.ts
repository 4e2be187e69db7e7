/**
 * Little-endian 64-bit fields for indices and terms. Values are JS numbers (safe integers up to
 * 2^53), split into two 32-bit halves so that no BigInt is allocated per record on the hot path.
 */
const TWO_32 = 0x1_0000_0000;

export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32LE(value % TWO_32, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
}

/** Returns -1 when the value is beyond 2^53 (only corrupt bytes can hold one). */
export function readU64(buf: Buffer, offset: number): number {
  const lo = buf.readUInt32LE(offset);
  const hi = buf.readUInt32LE(offset + 4);
  if (hi >= 0x20_0000) return -1;
  return hi * TWO_32 + lo;
}
