import { parseStorageConfig } from "./config.js";
import { FsObjectStore } from "./fs/fs-store.js";
import { GcsObjectStore } from "./gcs/gcs-store.js";
import type { ObjectStore } from "./object-store.js";
import { S3ObjectStore } from "./s3/s3-store.js";

/** Validates `config` (throws StorageConfigError naming the field) and opens the backend. */
export function createObjectStore(config: unknown): ObjectStore {
  const c = parseStorageConfig(config);
  switch (c.backend) {
    case "fs":
      return new FsObjectStore({ root: c.root, directIo: c.directIo ?? false });
    case "s3":
      return new S3ObjectStore(c);
    case "gcs":
      return new GcsObjectStore(c);
  }
}
