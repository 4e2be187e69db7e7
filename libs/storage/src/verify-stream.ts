import { Transform, type TransformCallback } from "node:stream";
import { Crc32cAccumulator } from "./checksum.js";
import { ChecksumMismatchError } from "./errors.js";

/**
 * Passes bytes through while computing their CRC32C; at the end, errors the stream with
 * ChecksumMismatchError when the checksum or the length differs from what was recorded.
 */
export function verifyingStream(key: string, expectedChecksum: string, expectedBytes: number) {
  const acc = new Crc32cAccumulator();
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      acc.update(chunk);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      if (acc.hex !== expectedChecksum || acc.bytes !== expectedBytes) {
        done(
          new ChecksumMismatchError(
            key,
            expectedChecksum,
            acc.hex,
            acc.bytes !== expectedBytes ? `read ${acc.bytes} bytes, expected ${expectedBytes}` : "",
          ),
        );
        return;
      }
      done();
    },
  });
}

/** Throws ChecksumMismatchError unless `data` matches the recorded checksum and length. */
export function verifyBytes(
  key: string,
  data: Uint8Array,
  actualChecksum: string,
  expectedChecksum: string,
  expectedBytes: number,
): void {
  if (actualChecksum !== expectedChecksum || data.byteLength !== expectedBytes) {
    throw new ChecksumMismatchError(
      key,
      expectedChecksum,
      actualChecksum,
      data.byteLength !== expectedBytes
        ? `read ${data.byteLength} bytes, expected ${expectedBytes}`
        : "",
    );
  }
}
