import { describe, expect, it } from "vitest";
import { StorageConfigError } from "./errors.js";
import { STORAGE_SPEC_PATTERN, storageConfigFromSpec } from "./spec.js";

describe("--storage spec", () => {
  it("maps each scheme to its backend config, endpoints from the environment", () => {
    expect(storageConfigFromSpec("fs:/var/lib/t", {})).toEqual({
      backend: "fs",
      root: "/var/lib/t",
    });
    expect(
      storageConfigFromSpec("s3:bucket/run-1", { TESSERA_S3_ENDPOINT: "http://127.0.0.1:9000" }),
    ).toEqual({
      backend: "s3",
      bucket: "bucket",
      prefix: "run-1/",
      endpoint: "http://127.0.0.1:9000",
      forcePathStyle: true,
    });
    expect(storageConfigFromSpec("gcs:b", { TESSERA_GCS_ENDPOINT: "http://g" })).toEqual({
      backend: "gcs",
      bucket: "b",
      apiEndpoint: "http://g",
    });
  });

  it("refuses anything else, naming the flag", () => {
    expect(() => storageConfigFromSpec("ftp:x", {})).toThrow(StorageConfigError);
    expect(() => storageConfigFromSpec("fs:", {})).toThrow(/--storage: "fs:" must be fs:<dir>/);
    expect(STORAGE_SPEC_PATTERN.test("s3:Bad_Bucket")).toBe(false);
    expect(STORAGE_SPEC_PATTERN.test("fs:/d")).toBe(true);
  });
});
