import type { Readable } from "node:stream";

export type BackendName = "fs" | "s3" | "gcs";

/** What a successful put reports; the shape of CompletionV1.output. */
export interface PutResult {
  readonly key: string;
  /** `file://…`, `s3://bucket/key` or `gs://bucket/key`. */
  readonly uri: string;
  /** CRC32C of the object's bytes, 8 lowercase hex digits. */
  readonly checksum: string;
  readonly bytes: number;
  /**
   * False when the key already held exactly these bytes (same checksum and length) and nothing
   * was written: the idempotent-retry path.
   */
  readonly created: boolean;
}

export interface ObjectInfo {
  readonly key: string;
  readonly uri: string;
  readonly bytes: number;
  /** The recorded CRC32C (8 lowercase hex). */
  readonly checksum: string;
}

export interface ListEntry {
  readonly key: string;
  readonly bytes: number;
}

export interface PutOptions {
  /**
   * The CRC32C the caller already knows (8 lowercase hex). When given, the upload is checked
   * against it and fails with ChecksumMismatchError — storing nothing — if the bytes differ.
   * For streams it also lets S3/GCS record the checksum up front instead of after the upload.
   */
  readonly expectedChecksum?: string;
  /** Content type recorded by S3/GCS; ignored by fs. Default application/octet-stream. */
  readonly contentType?: string;
}

export interface CopyOptions {
  /**
   * The CRC32C the caller holds for the source (8 lowercase hex), e.g. of the bytes it just read
   * and verified. The source's recorded checksum must equal it, or the copy fails with
   * ChecksumMismatchError and stores nothing: the copy is of what the caller checked.
   */
  readonly expectedChecksum?: string;
}

export interface GetOptions {
  /**
   * Supplies the buffer the object is read into (exactly `bytes` long), so a caller that reuses
   * buffers allocates nothing per read. The fs backend reads into it; network backends, which
   * receive the body in their own buffers, may ignore it: use the returned array, always.
   */
  readonly into?: (bytes: number) => Uint8Array;
}

export interface ListOptions {
  /** Keys fetched per backend request (S3 MaxKeys / GCS maxResults). Default 1000. */
  readonly pageSize?: number;
}

export type PutData = Uint8Array | Readable | AsyncIterable<Uint8Array>;

/**
 * One object store, whatever the backend. Every object carries a CRC32C recorded at write
 * time and verified on every read; a mismatch is a ChecksumMismatchError and no bad bytes are
 * returned by `get`. Writes are idempotent: the same key with the same bytes succeeds
 * (without rewriting), the same key with other bytes is a ConflictError.
 */
export interface ObjectStore {
  readonly backend: BackendName;
  /** The URI an object with this key has (no I/O; validates the key). */
  uri(key: string): string;
  /** Writes bytes or a stream. Streams are written without buffering the whole object. */
  put(key: string, data: PutData, options?: PutOptions): Promise<PutResult>;
  /** Same as put with a stream, named for call sites that move large objects. */
  putStream(
    key: string,
    data: Readable | AsyncIterable<Uint8Array>,
    options?: PutOptions,
  ): Promise<PutResult>;
  /**
   * Stores the object at `fromKey` under `toKey` without moving its bytes through this process
   * (fs: a hard link, S3: CopyObject, GCS: rewrite; fs without hard links: read and put). Like
   * put it never replaces another object: `toKey` holding the same bytes succeeds with
   * `created: false`, other bytes are a ConflictError; a missing source is ObjectNotFoundError.
   * The source's bytes are not re-read here: a caller that must know they are sound reads them
   * first (get verifies) and passes their checksum as `expectedChecksum`.
   */
  copy(fromKey: string, toKey: string, options?: CopyOptions): Promise<PutResult>;
  /** The whole object, verified before it is returned. */
  get(key: string, options?: GetOptions): Promise<Uint8Array>;
  /**
   * The object as a stream, verified as it flows: a mismatch (checksum or length) makes the
   * stream error at its end, after the bytes went by. Use `get` where no unverified byte may
   * ever reach the caller; use this to pipe large objects and discard on error.
   */
  getStream(key: string): Promise<Readable>;
  /** Size and recorded checksum, or null when the key does not exist. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Keys starting with `prefix`, in ascending byte order, fetched page by page. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry>;
  /** Removes the object; deleting a missing key succeeds (idempotent). */
  delete(key: string): Promise<void>;
  /** Releases clients and sockets. */
  close(): Promise<void>;
}
