import { randomUUID } from "node:crypto";
import { pipeline, Readable, Transform, type TransformCallback } from "node:stream";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { isNotFound, isPreconditionFailed, mapBackendError } from "../backend-errors.js";
import { Crc32cAccumulator, crc32cHex, hexToBase64, isChecksumHex } from "../checksum.js";
import {
  ChecksumMismatchError,
  ConflictError,
  ObjectNotFoundError,
  StorageError,
  UnverifiableObjectError,
} from "../errors.js";
import { assertValidKey, assertValidPrefix } from "../keys.js";
import type {
  CopyOptions,
  ListEntry,
  ListOptions,
  ObjectInfo,
  ObjectStore,
  PutData,
  PutOptions,
  PutResult,
} from "../object-store.js";
import {
  assertExpectedChecksum,
  byteChunks,
  checkCopySource,
  classifyPutData,
} from "../put-data.js";
import { verifyBytes, verifyingStream } from "../verify-stream.js";

/** Our own checksum, in user metadata (`x-amz-meta-crc32c`): verified on every read by us. */
export const S3_CHECKSUM_METADATA = "crc32c";
/** Streams of unknown checksum are uploaded here first, then copied with their metadata. */
const STAGING_SEGMENT = ".tessera-staging";

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket, e.g. `tessera/` (keys are stored as prefix + key). */
  readonly prefix?: string;
  readonly region?: string;
  /** Custom endpoint (MinIO, s3rver, another provider). */
  readonly endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), needed by s3rver and MinIO. */
  readonly forcePathStyle?: boolean;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Use `If-None-Match: *` so the server itself makes "first writer wins" atomic (AWS S3 since
   * 2024, MinIO). Servers that ignore the header (s3rver) make the check-then-put window real.
   * Default true.
   */
  readonly conditionalWrites?: boolean;
  /** Part size for multipart stream uploads. Default 8 MiB (minimum 5 MiB). */
  readonly partSizeBytes?: number;
  /** Request retries of the AWS SDK (standard mode). Default 3. */
  readonly maxAttempts?: number;
}

/**
 * S3 backend. Every object carries our CRC32C twice: as `x-amz-checksum-crc32c` so the
 * provider verifies the upload, and as `x-amz-meta-crc32c` so we verify every read ourselves
 * (the provider's stored checksum is not returned by every S3 implementation).
 */
export class S3ObjectStore implements ObjectStore {
  readonly backend = "s3" as const;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly conditional: boolean;
  private readonly partSize: number;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? "";
    this.conditional = options.conditionalWrites ?? true;
    this.partSize = Math.max(5 * 1024 * 1024, options.partSizeBytes ?? 8 * 1024 * 1024);
    this.client = new S3Client({
      region: options.region ?? "us-east-1",
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.credentials ? { credentials: options.credentials } : {}),
      maxAttempts: options.maxAttempts ?? 3,
      // We send the CRC32C header ourselves where we know it; the SDK must not switch bodies to
      // aws-chunked trailers, which S3-compatible servers such as s3rver store verbatim.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  uri(key: string): string {
    assertValidKey(key);
    return `s3://${this.bucket}/${this.prefix}${key}`;
  }

  private objectKey(key: string): string {
    return this.prefix + key;
  }

  putStream(key: string, data: Readable | AsyncIterable<Uint8Array>, options?: PutOptions) {
    return this.put(key, data, options);
  }

  async put(key: string, data: PutData, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    assertExpectedChecksum(options.expectedChecksum);
    const input = classifyPutData(data);
    try {
      if (input.kind === "bytes") return await this.putBytes(key, input.bytes, options);
      return await this.putStreamed(key, input.stream, options);
    } catch (err) {
      throw this.mapError(err, "put", key);
    }
  }

  private async putBytes(key: string, bytes: Uint8Array, options: PutOptions): Promise<PutResult> {
    const checksum = crc32cHex(bytes);
    if (options.expectedChecksum !== undefined && options.expectedChecksum !== checksum) {
      throw new ChecksumMismatchError(
        key,
        options.expectedChecksum,
        checksum,
        "put data does not match expectedChecksum",
      );
    }
    // Head first: a retried put of an existing object uploads nothing, and without
    // conditional writes this check is the (documented, racy) conflict detection.
    const existing = await this.head(key);
    if (existing) return this.resolveExisting(key, existing, checksum, bytes.byteLength);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: bytes,
          ContentLength: bytes.byteLength,
          ContentType: options.contentType ?? "application/octet-stream",
          ChecksumCRC32C: hexToBase64(checksum),
          Metadata: { [S3_CHECKSUM_METADATA]: checksum },
          ...(this.conditional ? { IfNoneMatch: "*" } : {}),
        }),
      );
    } catch (err) {
      if (this.conditional && isPreconditionFailed(err))
        return this.resolveRace(key, checksum, bytes.byteLength);
      throw err;
    }
    return { key, uri: this.uri(key), checksum, bytes: bytes.byteLength, created: true };
  }

  /**
   * Streams cannot be checksummed before the upload starts, but S3 metadata is fixed when an
   * upload begins. With a caller-supplied checksum we upload straight to the key and fail the
   * upload (nothing becomes visible) if the bytes disagree; otherwise we upload to a staging
   * key, then copy server-side to the final key with the checksum we computed on the way.
   */
  private async putStreamed(
    key: string,
    stream: AsyncIterable<Uint8Array>,
    options: PutOptions,
  ): Promise<PutResult> {
    const acc = new Crc32cAccumulator();
    const expected = options.expectedChecksum;
    if (expected !== undefined) {
      const existing = await this.head(key);
      if (existing && existing.checksum !== expected)
        throw new ConflictError(key, existing.checksum, expected);
    }
    const checked = Readable.from(byteChunks(stream)).pipe(
      new Transform({
        transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback) {
          acc.update(chunk);
          done(null, chunk);
        },
        flush(done: TransformCallback) {
          if (expected !== undefined && acc.hex !== expected) {
            done(
              new ChecksumMismatchError(
                key,
                expected,
                acc.hex,
                "put data does not match expectedChecksum",
              ),
            );
          } else done();
        },
      }),
    );
    const target = expected !== undefined ? this.objectKey(key) : this.stagingKey();
    const upload = new Upload({
      client: this.client,
      partSize: this.partSize,
      queueSize: 2,
      leavePartsOnError: false,
      params: {
        Bucket: this.bucket,
        Key: target,
        Body: checked,
        ContentType: options.contentType ?? "application/octet-stream",
        ...(expected !== undefined ? { Metadata: { [S3_CHECKSUM_METADATA]: expected } } : {}),
        ...(expected !== undefined && this.conditional ? { IfNoneMatch: "*" } : {}),
      },
    });
    let streamError: unknown;
    checked.on("error", (err) => {
      streamError = err;
    });
    try {
      await upload.done();
    } catch (err) {
      if (streamError instanceof StorageError) throw streamError;
      if (expected !== undefined && this.conditional && isPreconditionFailed(err)) {
        return this.resolveRace(key, expected, acc.bytes);
      }
      throw streamError ?? err;
    }
    if (streamError) throw streamError;
    if (expected !== undefined) {
      return { key, uri: this.uri(key), checksum: expected, bytes: acc.bytes, created: true };
    }
    try {
      return await this.copyWithChecksum(key, target, acc.hex, acc.bytes, options);
    } finally {
      await this.client
        .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: target }))
        .catch(() => undefined);
    }
  }

  private stagingKey(): string {
    return `${this.prefix}${STAGING_SEGMENT}/${randomUUID()}`;
  }

  /**
   * Server-side CopyObject: the bytes stay in the bucket, and the checksum metadata (the
   * source's) goes with them. Put-if-absent like put.
   */
  async copy(fromKey: string, toKey: string, options: CopyOptions = {}): Promise<PutResult> {
    assertValidKey(fromKey);
    assertValidKey(toKey);
    assertExpectedChecksum(options.expectedChecksum);
    try {
      const source = checkCopySource(
        fromKey,
        this.uri(fromKey),
        await this.head(fromKey),
        options.expectedChecksum,
      );
      return await this.copyWithChecksum(
        toKey,
        this.objectKey(fromKey),
        source.checksum,
        source.bytes,
        {},
      );
    } catch (err) {
      // A 404 here is the source, deleted since its head.
      throw isNotFound(err)
        ? new ObjectNotFoundError(fromKey, this.uri(fromKey))
        : this.mapError(err, "copy", toKey);
    }
  }

  /** CopyObject of bucket object `source` to `key`, recording `checksum` as ours. */
  private async copyWithChecksum(
    key: string,
    source: string,
    checksum: string,
    bytes: number,
    options: PutOptions,
  ) {
    const existing = await this.head(key);
    if (existing) return this.resolveExisting(key, existing, checksum, bytes);
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          CopySource: `${this.bucket}/${source.split("/").map(encodeURIComponent).join("/")}`,
          MetadataDirective: "REPLACE",
          ContentType: options.contentType ?? "application/octet-stream",
          Metadata: { [S3_CHECKSUM_METADATA]: checksum },
          ...(this.conditional ? { IfNoneMatch: "*" } : {}),
        }),
      );
    } catch (err) {
      if (this.conditional && isPreconditionFailed(err))
        return this.resolveRace(key, checksum, bytes);
      throw err;
    }
    return { key, uri: this.uri(key), checksum, bytes, created: true };
  }

  /** Another writer won the conditional put: succeed if it wrote our bytes, else conflict. */
  private async resolveRace(key: string, checksum: string, bytes: number): Promise<PutResult> {
    const existing = await this.head(key);
    if (!existing)
      throw mapBackendError(
        "s3",
        "put",
        key,
        new Error("conditional put failed but the object is absent"),
      );
    return this.resolveExisting(key, existing, checksum, bytes);
  }

  private resolveExisting(
    key: string,
    existing: ObjectInfo,
    checksum: string,
    bytes: number,
  ): PutResult {
    if (existing.checksum !== checksum || existing.bytes !== bytes) {
      throw new ConflictError(key, existing.checksum, checksum);
    }
    return { key, uri: this.uri(key), checksum, bytes, created: false };
  }

  private recordedChecksum(key: string, metadata: Record<string, string> | undefined): string {
    const value = metadata?.[S3_CHECKSUM_METADATA];
    if (!isChecksumHex(value)) {
      throw new UnverifiableObjectError(
        key,
        `no valid x-amz-meta-${S3_CHECKSUM_METADATA} metadata`,
      );
    }
    return value;
  }

  async get(key: string): Promise<Uint8Array> {
    assertValidKey(key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      const body = res.Body as Readable | undefined;
      let expected: string;
      try {
        expected = this.recordedChecksum(key, res.Metadata);
      } catch (err) {
        body?.destroy();
        throw err;
      }
      const data = await collect(body, res.ContentLength);
      verifyBytes(key, data, crc32cHex(data), expected, res.ContentLength ?? data.byteLength);
      return data;
    } catch (err) {
      throw this.mapError(err, "get", key);
    }
  }

  async getStream(key: string): Promise<Readable> {
    assertValidKey(key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      const body = (res.Body as Readable | undefined) ?? Readable.from([]);
      let expected: string;
      try {
        expected = this.recordedChecksum(key, res.Metadata);
      } catch (err) {
        body.destroy();
        throw err;
      }
      const verify = verifyingStream(key, expected, res.ContentLength ?? 0);
      pipeline(body, verify, () => undefined);
      return verify;
    } catch (err) {
      throw this.mapError(err, "getStream", key);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return {
        key,
        uri: this.uri(key),
        bytes: res.ContentLength ?? 0,
        checksum: this.recordedChecksum(key, res.Metadata),
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.mapError(err, "head", key);
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    assertValidPrefix(prefix);
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: options.pageSize ?? 1000,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
      } catch (err) {
        throw this.mapError(err, "list", prefix);
      }
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue;
        const key = o.Key.slice(this.prefix.length);
        // Staging objects (and anything else that is not a valid key) are not ours to list.
        if (key.split("/").some((s) => s.startsWith("."))) continue;
        yield { key, bytes: o.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await this.client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
    } catch (err) {
      if (isNotFound(err)) return;
      throw this.mapError(err, "delete", key);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private mapError(err: unknown, operation: string, key: string): Error {
    if (err instanceof StorageError) return err;
    if (isNotFound(err) && operation !== "list") return new ObjectNotFoundError(key, this.uri(key));
    return mapBackendError("s3", operation, key, err);
  }
}

/** Reads a whole body into one buffer, preallocated when the length is known. */
async function collect(body: Readable | undefined, length: number | undefined): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    total += chunk.byteLength;
  }
  if (length !== undefined && total === length && chunks.length === 1 && chunks[0])
    return chunks[0];
  return Buffer.concat(chunks, total);
}
