import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MatrixErrorCode } from "./errors.js";
import { thrown } from "./errors.test-helpers.js";
import { jobOutputDigest, outputDigest } from "./output-digest.js";

describe("outputDigest", () => {
  it("is SHA-256 over the checksums' bytes in the given order", () => {
    const want = createHash("sha256")
      .update(Buffer.from([0x00, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]))
      .digest("hex");
    expect(outputDigest(["00000001", "deadbeef"])).toBe(want);
    expect(outputDigest(["deadbeef", "00000001"])).not.toBe(want);
    expect(outputDigest([])).toBe(createHash("sha256").digest("hex"));
  });

  it("visits a job's tiles in canonical row-major (i, j) order", () => {
    const spec = { n: 48, tile: 16, mode: "exact", seed: 0 } as const;
    const crc = (i: number, j: number) => (i * 16 + j).toString(16).padStart(8, "0");
    const rowMajor = [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => crc(i, j)));
    expect(jobOutputDigest(spec, crc)).toBe(outputDigest(rowMajor));
  });

  it("rejects checksums that are not 8 lowercase hex characters", () => {
    for (const bad of ["DEADBEEF", "1234567", "123456789", "xyz01234"]) {
      expect(thrown(() => outputDigest(["00000000", bad])).code).toBe(
        MatrixErrorCode.ArgumentInvalid,
      );
    }
  });
});
