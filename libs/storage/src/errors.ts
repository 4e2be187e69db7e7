/**
 * Error catalogue of @tessera/storage. Callers match on `code` (or `instanceof`), never on
 * message text. `retryable` tells a caller whether trying the same call again can help:
 * only transient backend trouble is retryable; a bad key, a conflict or corrupt bytes stay bad.
 */

export type StorageErrorCode =
  | "TESSERA_E_STORAGE_INVALID_KEY"
  | "TESSERA_E_STORAGE_NOT_FOUND"
  | "TESSERA_E_STORAGE_CHECKSUM"
  | "TESSERA_E_STORAGE_CONFLICT"
  | "TESSERA_E_STORAGE_UNVERIFIABLE"
  | "TESSERA_E_STORAGE_UNAVAILABLE"
  | "TESSERA_E_STORAGE_BACKEND"
  | "TESSERA_E_STORAGE_CONFIG"
  | "TESSERA_E_STORAGE_INVALID_ARGUMENT";

/** Base class of every storage error, so callers can catch "any storage failure" at once. */
export abstract class StorageError extends Error {
  abstract readonly code: StorageErrorCode;
  /** True only when the same call may succeed later (network, throttling, 5xx). */
  readonly retryable: boolean = false;
}

/** A key breaks the key rules (see keys.ts); nothing was sent to the backend. */
export class InvalidKeyError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_INVALID_KEY";
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`storage key ${JSON.stringify(key)}: ${reason}`);
    this.name = "InvalidKeyError";
  }
}

export class ObjectNotFoundError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_NOT_FOUND";
  constructor(
    readonly key: string,
    readonly uri: string,
  ) {
    super(`storage object ${JSON.stringify(key)} not found (${uri})`);
    this.name = "ObjectNotFoundError";
  }
}

/** The stored bytes do not match their recorded CRC32C: the object is corrupt. */
export class ChecksumMismatchError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_CHECKSUM";
  constructor(
    readonly key: string,
    /** The checksum recorded when the object was written (8 lowercase hex). */
    readonly expected: string,
    /** The checksum of the bytes actually read back. */
    readonly actual: string,
    readonly detail = "",
  ) {
    super(
      `storage object ${JSON.stringify(key)}: checksum mismatch, expected crc32c ${expected}, read ${actual}${detail ? ` (${detail})` : ""}`,
    );
    this.name = "ChecksumMismatchError";
  }
}

/** A put found the key already holding other content; the existing object is untouched. */
export class ConflictError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_CONFLICT";
  constructor(
    readonly key: string,
    readonly existingChecksum: string,
    readonly attemptedChecksum: string,
  ) {
    super(
      `storage object ${JSON.stringify(key)} already exists with crc32c ${existingChecksum}; refusing to replace it with different content (crc32c ${attemptedChecksum})`,
    );
    this.name = "ConflictError";
  }
}

/**
 * The object exists but carries no checksum Tessera can verify (written by another tool, or
 * an fs file without a trailer). Reading it would return unverified bytes, so we refuse.
 */
export class UnverifiableObjectError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_UNVERIFIABLE";
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`storage object ${JSON.stringify(key)} cannot be verified: ${reason}`);
    this.name = "UnverifiableObjectError";
  }
}

/** Transient backend trouble (connection refused, timeout, throttling, 5xx). Retry with backoff. */
export class StorageUnavailableError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_UNAVAILABLE";
  override readonly retryable = true;
  constructor(
    readonly backend: string,
    readonly operation: string,
    readonly key: string | undefined,
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(
      `storage backend ${backend} unavailable during ${operation}${key === undefined ? "" : ` of ${JSON.stringify(key)}`}${cause}`,
      options,
    );
    this.name = "StorageUnavailableError";
  }
}

/**
 * The backend refused the operation for a reason that retrying will not fix (permission
 * denied, missing bucket, a key that collides with a directory on fs).
 */
export class StorageBackendError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_BACKEND";
  constructor(
    readonly backend: string,
    readonly operation: string,
    readonly key: string | undefined,
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(
      `storage backend ${backend} failed ${operation}${key === undefined ? "" : ` of ${JSON.stringify(key)}`}${cause}`,
      options,
    );
    this.name = "StorageBackendError";
  }
}

/** A storage configuration field is missing or invalid. */
export class StorageConfigError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_CONFIG";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`storage config: ${field}: ${reason}`);
    this.name = "StorageConfigError";
  }
}

/** An argument other than the key is unusable (e.g. data that is neither bytes nor a stream). */
export class InvalidArgumentError extends StorageError {
  readonly code = "TESSERA_E_STORAGE_INVALID_ARGUMENT";
  constructor(
    readonly argument: string,
    readonly reason: string,
  ) {
    super(`storage: ${argument}: ${reason}`);
    this.name = "InvalidArgumentError";
  }
}
