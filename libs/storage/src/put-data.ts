import { Readable } from "node:stream";
import { ChecksumMismatchError, InvalidArgumentError, ObjectNotFoundError } from "./errors.js";
import type { ObjectInfo, PutData } from "./object-store.js";

/** Narrows put's data argument, rejecting anything that is neither bytes nor a byte stream. */
export function classifyPutData(
  data: PutData,
): { kind: "bytes"; bytes: Uint8Array } | { kind: "stream"; stream: AsyncIterable<Uint8Array> } {
  if (data instanceof Uint8Array) return { kind: "bytes", bytes: data };
  if (data instanceof Readable) return { kind: "stream", stream: data };
  if (data !== null && typeof data === "object" && Symbol.asyncIterator in data) {
    return { kind: "stream", stream: data };
  }
  throw new InvalidArgumentError(
    "data",
    "must be a Uint8Array, a Readable or an async iterable of Uint8Array",
  );
}

/** Chunks of a stream as Uint8Array; a string or other chunk type is a typed error, not a crash. */
export async function* byteChunks(stream: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) {
    if (!(chunk instanceof Uint8Array)) {
      throw new InvalidArgumentError(
        "data",
        "stream chunks must be Uint8Array (not strings or objects)",
      );
    }
    yield chunk;
  }
}

export function assertExpectedChecksum(value: string | undefined): void {
  if (value !== undefined && !/^[0-9a-f]{8}$/.test(value)) {
    throw new InvalidArgumentError(
      "options.expectedChecksum",
      "must be 8 lowercase hex digits (crc32c)",
    );
  }
}

/**
 * The source of a copy as the backend found it: absent is ObjectNotFoundError, and a recorded
 * checksum other than the one the caller holds is ChecksumMismatchError (nothing is copied).
 */
export function checkCopySource(
  fromKey: string,
  fromUri: string,
  source: ObjectInfo | null,
  expectedChecksum: string | undefined,
): ObjectInfo {
  if (!source) throw new ObjectNotFoundError(fromKey, fromUri);
  if (expectedChecksum !== undefined && source.checksum !== expectedChecksum) {
    throw new ChecksumMismatchError(
      fromKey,
      expectedChecksum,
      source.checksum,
      "copy source does not hold the bytes the caller checked",
    );
  }
  return source;
}
