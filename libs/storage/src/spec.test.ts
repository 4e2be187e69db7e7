import { describe, expect, it } from "vitest";
import { StorageConfigError } from "./errors.js";
import { createObjectStore } from "./factory.js";
import { STORAGE_SPEC_PATTERN, storageConfigFromSpec, storageSpecOfObjectUri } from "./spec.js";

describe("--storage spec", () => {
  it("maps each scheme to its backend config, endpoints from the environment", () => {
    expect(storageConfigFromSpec("fs:/var/lib/t", {})).toEqual({
      backend: "fs",
      root: "/var/lib/t",
      directIo: true,
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

  it("opens fs stores with direct I/O unless TESSERA_FS_DIRECT_IO=0, refusing other values", () => {
    for (const env of [{}, { TESSERA_FS_DIRECT_IO: "1" }, { TESSERA_FS_DIRECT_IO: "" }]) {
      expect(storageConfigFromSpec("fs:/d", env)).toEqual({
        backend: "fs",
        root: "/d",
        directIo: true,
      });
    }
    expect(storageConfigFromSpec("fs:/d", { TESSERA_FS_DIRECT_IO: "0" })).toEqual({
      backend: "fs",
      root: "/d",
    });
    expect(() => storageConfigFromSpec("fs:/d", { TESSERA_FS_DIRECT_IO: "yes" })).toThrow(
      /TESSERA_FS_DIRECT_IO: must be 1 or 0/,
    );
  });

  it("refuses anything else, naming the flag", () => {
    expect(() => storageConfigFromSpec("ftp:x", {})).toThrow(StorageConfigError);
    expect(() => storageConfigFromSpec("fs:", {})).toThrow(/--storage: "fs:" must be fs:<dir>/);
    expect(STORAGE_SPEC_PATTERN.test("s3:Bad_Bucket")).toBe(false);
    expect(STORAGE_SPEC_PATTERN.test("fs:/d")).toBe(true);
  });

  it("finds the spec again from an object's URI, as each store writes it", async () => {
    const key = "jobs/job-1/C/0-0.tile";
    const env = { TESSERA_S3_ENDPOINT: "http://127.0.0.1:9", TESSERA_GCS_ENDPOINT: "http://g" };
    for (const spec of [
      "fs:/var/lib/tessera data",
      "fs:/",
      "s3:bucket",
      "s3:bucket/run-1/a",
      "gcs:b.example",
      "gcs:bkt/p",
    ]) {
      const store = createObjectStore(storageConfigFromSpec(spec, env));
      try {
        expect(storageSpecOfObjectUri(store.uri(key), key), spec).toBe(spec);
      } finally {
        await store.close();
      }
    }
  });

  it("has no spec for a URI that is not the key's, or of another scheme", () => {
    const key = "jobs/j/C/0-0.tile";
    expect(storageSpecOfObjectUri(`s3://b/jobs/j/C/0-1.tile`, key)).toBeUndefined();
    expect(storageSpecOfObjectUri(`https://b/${key}`, key)).toBeUndefined();
    expect(storageSpecOfObjectUri(`s3://Bad_Bucket/${key}`, key)).toBeUndefined();
    expect(storageSpecOfObjectUri(`s3://b/${key}`, "")).toBeUndefined();
  });
});
