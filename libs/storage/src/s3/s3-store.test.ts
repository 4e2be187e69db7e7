import { open } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, request } from "node:http";
import type { AddressInfo } from "node:net";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { type S3rverInstance, startS3rver } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32cHex, hexToBase64 } from "../checksum.js";
import { describeConformance, payload } from "../conformance.test-helpers.js";
import { UnverifiableObjectError } from "../errors.js";
import { S3ObjectStore } from "./s3-store.js";

function storeFor(s3: S3rverInstance, endpoint = s3.endpoint): S3ObjectStore {
  return new S3ObjectStore({
    bucket: s3.bucket,
    endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
    // s3rver ignores If-None-Match; conflicts are caught by the head-before-put check.
    conditionalWrites: false,
    maxAttempts: 1,
  });
}

describeConformance(
  "s3 (s3rver)",
  async () => {
    const s3 = await startS3rver();
    return {
      store: storeFor(s3),
      scheme: "s3:",
      async corrupt(key) {
        // Damage the file s3rver keeps on disk; our x-amz-meta-crc32c still names the old bytes.
        const h = await open(s3.objectFile(key), "r+");
        try {
          const b = Buffer.alloc(1);
          await h.read(b, 0, 1, 1000);
          b[0] = (b[0] ?? 0) ^ 0x80;
          await h.write(b, 0, 1, 1000);
        } finally {
          await h.close();
        }
      },
      teardown: () => s3.stop(),
    };
  },
  { strictListOrder: false },
);

describe("s3 backend specifics (s3rver)", () => {
  let s3: S3rverInstance;
  let raw: S3Client;
  beforeAll(async () => {
    s3 = await startS3rver();
    raw = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: s3.credentials,
    });
  });
  afterAll(async () => {
    raw?.destroy();
    await s3?.stop();
  });

  it("refuses to read an object that carries no crc32c metadata", async () => {
    await raw.send(
      new PutObjectCommand({ Bucket: s3.bucket, Key: "foreign/x", Body: Buffer.from("not ours") }),
    );
    const store = storeFor(s3);
    await expect(store.get("foreign/x")).rejects.toBeInstanceOf(UnverifiableObjectError);
    await expect(store.head("foreign/x")).rejects.toMatchObject({
      code: "TESSERA_E_STORAGE_UNVERIFIABLE",
    });
    await store.close();
  });

  it("detects bytes replaced behind our back with stale metadata", async () => {
    const store = storeFor(s3);
    const good = payload(5000, 1);
    const { checksum } = await store.put("stale/x", good);
    await raw.send(
      new PutObjectCommand({
        Bucket: s3.bucket,
        Key: "stale/x",
        Body: payload(5000, 2),
        Metadata: { crc32c: checksum },
      }),
    );
    await expect(store.get("stale/x")).rejects.toMatchObject({
      code: "TESSERA_E_STORAGE_CHECKSUM",
      expected: checksum,
    });
    await store.close();
  });

  it("sends the CRC32C as x-amz-checksum-crc32c (provider verifies) and x-amz-meta-crc32c (we verify)", async () => {
    // A recording proxy in front of s3rver shows exactly what goes over the wire.
    const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
    const target = new URL(s3.endpoint);
    const proxy = createServer((req, res) => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
      const up = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const store = storeFor(s3, `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    try {
      const data = payload(12345, 9);
      await store.put("wire/x", data);
      const put = seen.find((s) => s.method === "PUT");
      expect(put?.headers["x-amz-checksum-crc32c"]).toBe(hexToBase64(crc32cHex(data)));
      expect(put?.headers["x-amz-meta-crc32c"]).toBe(crc32cHex(data));
      // Plain body, not an aws-chunked trailer that non-AWS servers would store verbatim.
      expect(put?.headers["content-encoding"] ?? "").not.toContain("aws-chunked");
    } finally {
      await store.close();
      await new Promise((r) => proxy.close(r));
    }
  });
});
