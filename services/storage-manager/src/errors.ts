// Error catalogue of the storage-manager. Codes, not message text, are what callers match on.
export const StorageManagerErrorCode = {
  /** A flag or environment variable is missing or malformed. */
  Config: "TESSERA_E_STORAGE_MANAGER_CONFIG",
  /** A manifest command could not be published to TESSERA_CMD. */
  Propose: "TESSERA_E_STORAGE_MANAGER_PROPOSE",
  /** Start-up failed (NATS, storage, HTTP listener). */
  Start: "TESSERA_E_STORAGE_MANAGER_START",
} as const;

export type StorageManagerErrorCode =
  (typeof StorageManagerErrorCode)[keyof typeof StorageManagerErrorCode];

export class StorageManagerError extends Error {
  readonly code: StorageManagerErrorCode;

  constructor(code: StorageManagerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StorageManagerError";
    this.code = code;
  }
}
