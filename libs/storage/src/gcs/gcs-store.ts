import { pipeline, Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline as pipelineAsync } from "node:stream/promises";
import { type File, Storage } from "@google-cloud/storage";
import { isNotFound, isPreconditionFailed, mapBackendError } from "../backend-errors.js";
import {
  base64ToHex,
  Crc32cAccumulator,
  crc32cHex,
  hexToBase64,
  isChecksumHex,
} from "../checksum.js";
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

/** Our own checksum in the object's custom metadata (`metadata.crc32c`, 8 hex). */
export const GCS_CHECKSUM_METADATA = "crc32c";

export interface GcsStoreOptions {
  readonly bucket: string;
  readonly prefix?: string;
  /** e.g. `http://localhost:4443` for fake-gcs-server; default Google's endpoint. */
  readonly apiEndpoint?: string;
  readonly projectId?: string;
  /** Path to a service-account key file; default Application Default Credentials. */
  readonly keyFilename?: string;
}

interface GcsMetadata {
  size?: string | number;
  crc32c?: string;
  generation?: string | number;
  metadata?: Record<string, unknown> | null;
}

/**
 * GCS backend. GCS computes a CRC32C for every object; we send ours with the upload so the
 * server rejects damaged uploads, keep our hex copy in custom metadata, and verify every read
 * against both. `ifGenerationMatch: 0` makes "first writer wins" atomic on the server.
 */
export class GcsObjectStore implements ObjectStore {
  readonly backend = "gcs" as const;
  readonly bucketName: string;
  readonly prefix: string;
  private readonly storage: Storage;

  constructor(options: GcsStoreOptions) {
    this.bucketName = options.bucket;
    this.prefix = options.prefix ?? "";
    this.storage = new Storage({
      ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
      ...(options.projectId ? { projectId: options.projectId } : {}),
      ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
    });
  }

  uri(key: string): string {
    assertValidKey(key);
    return `gs://${this.bucketName}/${this.prefix}${key}`;
  }

  private file(key: string, generation?: string | number): File {
    return this.storage
      .bucket(this.bucketName)
      .file(this.prefix + key, generation === undefined ? {} : { generation });
  }

  putStream(key: string, data: Readable | AsyncIterable<Uint8Array>, options?: PutOptions) {
    return this.put(key, data, options);
  }

  async put(key: string, data: PutData, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key);
    assertExpectedChecksum(options.expectedChecksum);
    const input = classifyPutData(data);
    try {
      const known = input.kind === "bytes" ? crc32cHex(input.bytes) : options.expectedChecksum;
      if (
        input.kind === "bytes" &&
        options.expectedChecksum !== undefined &&
        options.expectedChecksum !== known
      ) {
        throw new ChecksumMismatchError(
          key,
          options.expectedChecksum,
          known ?? "",
          "put data does not match expectedChecksum",
        );
      }
      if (known !== undefined) {
        const existing = await this.head(key);
        if (existing) {
          if (existing.checksum !== known) throw new ConflictError(key, existing.checksum, known);
          if (input.kind === "bytes")
            return this.resolveExisting(key, existing, known, input.bytes.byteLength);
        }
      }
      const acc = new Crc32cAccumulator();
      const source =
        input.kind === "bytes"
          ? Readable.from([input.bytes])
          : Readable.from(byteChunks(input.stream));
      const counter = new Transform({
        transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback) {
          acc.update(chunk);
          done(null, chunk);
        },
        flush(done: TransformCallback) {
          if (options.expectedChecksum !== undefined && acc.hex !== options.expectedChecksum) {
            done(
              new ChecksumMismatchError(
                key,
                options.expectedChecksum,
                acc.hex,
                "put data does not match expectedChecksum",
              ),
            );
          } else done();
        },
      });
      const sink = this.file(key).createWriteStream({
        // One request per object; resumable sessions add a round trip and local state for
        // little gain at tile sizes.
        resumable: false,
        // The client computes CRC32C as bytes flow and compares it with the server's; on a
        // mismatch it deletes the object and fails the upload.
        validation: "crc32c",
        contentType: options.contentType ?? "application/octet-stream",
        metadata: {
          contentType: options.contentType ?? "application/octet-stream",
          ...(known !== undefined
            ? { crc32c: hexToBase64(known), metadata: { [GCS_CHECKSUM_METADATA]: known } }
            : {}),
        },
        preconditionOpts: { ifGenerationMatch: 0 },
      });
      try {
        await pipelineAsync(source, counter, sink);
      } catch (err) {
        if (err instanceof StorageError) throw err;
        if (isPreconditionFailed(err)) {
          const existing = await this.head(key);
          if (!existing) throw err;
          return this.resolveExisting(key, existing, acc.hex, acc.bytes);
        }
        throw err;
      }
      if (known === undefined) {
        // Stream of unknown checksum: record ours now. Until this lands, readers verify
        // against the server's own crc32c, which the upload validation already matched.
        await this.file(key).setMetadata({ metadata: { [GCS_CHECKSUM_METADATA]: acc.hex } });
      }
      return { key, uri: this.uri(key), checksum: acc.hex, bytes: acc.bytes, created: true };
    } catch (err) {
      throw this.mapError(err, "put", key);
    }
  }

  /**
   * Server-side rewrite of the source generation that was checked; the destination takes the
   * source's metadata (our checksum included) and `ifGenerationMatch: 0` keeps it put-if-absent.
   */
  async copy(fromKey: string, toKey: string, options: CopyOptions = {}): Promise<PutResult> {
    assertValidKey(fromKey);
    assertValidKey(toKey);
    assertExpectedChecksum(options.expectedChecksum);
    try {
      let meta: GcsMetadata | null;
      try {
        meta = await this.metadata(fromKey);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        meta = null;
      }
      const { checksum, bytes } = checkCopySource(
        fromKey,
        this.uri(fromKey),
        meta && {
          key: fromKey,
          uri: this.uri(fromKey),
          bytes: Number(meta.size ?? 0),
          checksum: this.expectedChecksum(fromKey, meta),
        },
        options.expectedChecksum,
      );
      const existing = await this.head(toKey);
      if (existing) return this.resolveExisting(toKey, existing, checksum, bytes);
      try {
        await this.file(fromKey, meta?.generation ?? undefined).copy(this.file(toKey), {
          preconditionOpts: { ifGenerationMatch: 0 },
        });
      } catch (err) {
        if (isNotFound(err)) throw new ObjectNotFoundError(fromKey, this.uri(fromKey));
        if (!isPreconditionFailed(err)) throw err;
        const winner = await this.head(toKey);
        if (!winner) throw err;
        return this.resolveExisting(toKey, winner, checksum, bytes);
      }
      return { key: toKey, uri: this.uri(toKey), checksum, bytes, created: true };
    } catch (err) {
      throw this.mapError(err, "copy", toKey);
    }
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

  /** Our metadata checksum and the server's must agree; either alone is enough to verify. */
  private expectedChecksum(key: string, meta: GcsMetadata): string {
    const ours = meta.metadata?.[GCS_CHECKSUM_METADATA];
    const server = typeof meta.crc32c === "string" ? base64ToHex(meta.crc32c) : undefined;
    if (isChecksumHex(ours)) {
      if (server !== undefined && server !== ours) {
        throw new ChecksumMismatchError(
          key,
          ours,
          server,
          "server-side crc32c disagrees with recorded checksum",
        );
      }
      return ours;
    }
    if (server !== undefined) return server;
    throw new UnverifiableObjectError(
      key,
      "object has neither crc32c metadata nor a server crc32c",
    );
  }

  private async metadata(key: string): Promise<GcsMetadata> {
    const [meta] = await this.file(key).getMetadata();
    return meta as GcsMetadata;
  }

  async get(key: string): Promise<Uint8Array> {
    assertValidKey(key);
    try {
      const meta = await this.metadata(key);
      const expected = this.expectedChecksum(key, meta);
      // Pin the generation we just looked at, so the bytes and checksum belong together.
      const [data] = await this.file(key, meta.generation).download({ validation: false });
      verifyBytes(key, data, crc32cHex(data), expected, Number(meta.size ?? data.byteLength));
      return data;
    } catch (err) {
      throw this.mapError(err, "get", key);
    }
  }

  async getStream(key: string): Promise<Readable> {
    assertValidKey(key);
    try {
      const meta = await this.metadata(key);
      const expected = this.expectedChecksum(key, meta);
      const source = this.file(key, meta.generation).createReadStream({ validation: false });
      const verify = verifyingStream(key, expected, Number(meta.size ?? 0));
      pipeline(source, verify, () => undefined);
      return verify;
    } catch (err) {
      throw this.mapError(err, "getStream", key);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    let meta: GcsMetadata;
    try {
      meta = await this.metadata(key);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.mapError(err, "head", key);
    }
    return {
      key,
      uri: this.uri(key),
      bytes: Number(meta.size ?? 0),
      checksum: this.expectedChecksum(key, meta),
    };
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    assertValidPrefix(prefix);
    let pageToken: string | undefined;
    do {
      let files: File[];
      let next: { pageToken?: string } | null | undefined;
      try {
        [files, next] = (await this.storage.bucket(this.bucketName).getFiles({
          prefix: this.prefix + prefix,
          maxResults: options.pageSize ?? 1000,
          autoPaginate: false,
          ...(pageToken ? { pageToken } : {}),
        })) as unknown as [File[], { pageToken?: string } | null];
      } catch (err) {
        throw this.mapError(err, "list", prefix);
      }
      for (const f of files) {
        const key = f.name.slice(this.prefix.length);
        if (key.split("/").some((s) => s.startsWith("."))) continue;
        yield { key, bytes: Number((f.metadata as GcsMetadata).size ?? 0) };
      }
      pageToken = next?.pageToken;
    } while (pageToken);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await this.file(key).delete({ ignoreNotFound: true });
    } catch (err) {
      if (isNotFound(err)) return;
      throw this.mapError(err, "delete", key);
    }
  }

  async close(): Promise<void> {}

  private mapError(err: unknown, operation: string, key: string): Error {
    if (err instanceof StorageError) return err;
    if (isNotFound(err) && operation !== "list") return new ObjectNotFoundError(key, this.uri(key));
    return mapBackendError("gcs", operation, key, err);
  }
}
