export { crc32cHex } from "./checksum.js";
export {
  type FsStorageConfig,
  type GcsStorageConfig,
  parseStorageConfig,
  type S3StorageConfig,
  type StorageConfig,
} from "./config.js";
export {
  ChecksumMismatchError,
  ConflictError,
  InvalidArgumentError,
  InvalidKeyError,
  ObjectNotFoundError,
  StorageBackendError,
  StorageConfigError,
  StorageError,
  type StorageErrorCode,
  StorageUnavailableError,
  UnverifiableObjectError,
} from "./errors.js";
export { createObjectStore } from "./factory.js";
export type { FsIo } from "./fs/fs-io.js";
export { FsObjectStore, type FsStoreOptions } from "./fs/fs-store.js";
export { GcsObjectStore, type GcsStoreOptions } from "./gcs/gcs-store.js";
export { assertValidKey, keyProblem, MAX_KEY_LENGTH } from "./keys.js";
export type {
  BackendName,
  GetOptions,
  ListEntry,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  PutData,
  PutOptions,
  PutResult,
} from "./object-store.js";
export { S3ObjectStore, type S3StoreOptions } from "./s3/s3-store.js";
export { STORAGE_SPEC_PATTERN, storageConfigFromSpec, storageSpecOfObjectUri } from "./spec.js";
