import { createHash } from "node:crypto";
import { isCrc32cHex } from "./checksum.js";
import { MatrixError, MatrixErrorCode } from "./errors.js";
import type { MatmulJobSpec } from "./spec.js";

/**
 * The job's output digest: hex SHA-256 over the output tiles' CRC32C checksums (the storage
 * checksum of each whole `jobs/<job>/C/i-j.tile` object, i.e. CompletionV1 output.checksum) in
 * canonical row-major (i, j) order, each fed as its 4 bytes big-endian (the hex decoded).
 * Tile encoding is deterministic, so the digest depends only on the output values — two runs
 * of an exact-mode job on any hardware give the same digest.
 */
export function outputDigest(checksums: Iterable<string>): string {
  const hash = createHash("sha256");
  let index = 0;
  for (const checksum of checksums) {
    if (!isCrc32cHex(checksum)) {
      throw new MatrixError(
        MatrixErrorCode.ArgumentInvalid,
        `checksum #${index} ${JSON.stringify(checksum)} is not 8 lowercase hex characters`,
      );
    }
    hash.update(Buffer.from(checksum, "hex"));
    index++;
  }
  return hash.digest("hex");
}

/** `outputDigest` over a job's K² output checksums, visited in canonical (i, j) order. */
export function jobOutputDigest(
  spec: MatmulJobSpec,
  checksumOf: (i: number, j: number) => string,
): string {
  const K = spec.n / spec.tile;
  function* ordered(): Generator<string> {
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) yield checksumOf(i, j);
  }
  return outputDigest(ordered());
}
