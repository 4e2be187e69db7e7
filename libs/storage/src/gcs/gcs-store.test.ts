import { FAKE_GCS_UNAVAILABLE, startFakeGcs } from "@tessera/harness";
import { describe, expect, it } from "vitest";
import { crc32cHex, hexToBase64 } from "../checksum.js";
import { describeConformance, payload } from "../conformance.test-helpers.js";
import { startGcsContractServer } from "./gcs-contract-server.test-helpers.js";
import { GcsObjectStore } from "./gcs-store.js";

// Decided once, before collection: with a Docker engine the conformance suite runs against
// fsouza/fake-gcs-server; without one, against the contract server below, named as such.
const fake = await startFakeGcs();

if (fake) {
  describeConformance("gcs (fake-gcs-server via testcontainers)", async () => {
    const store = new GcsObjectStore({
      bucket: fake.bucket,
      apiEndpoint: fake.apiEndpoint,
      projectId: fake.projectId,
    });
    const raw = new GcsObjectStore({
      bucket: fake.bucket,
      apiEndpoint: fake.apiEndpoint,
      projectId: fake.projectId,
    });
    return {
      store,
      scheme: "gs:",
      async corrupt(key) {
        // Replace the bytes but keep our stale crc32c metadata: a silent bit-rot stand-in.
        const info = await store.head(key);
        const data = Buffer.from(await store.get(key));
        data[1000] = (data[1000] ?? 0) ^ 1;
        await raw.delete(key);
        const { Storage } = await import("@google-cloud/storage");
        const s = new Storage({ apiEndpoint: fake.apiEndpoint, projectId: fake.projectId });
        await s
          .bucket(fake.bucket)
          .file(key)
          .save(data, {
            resumable: false,
            validation: false,
            metadata: { metadata: { crc32c: info?.checksum ?? "" } },
          });
      },
      teardown: () => fake.stop(),
    };
  });
} else {
  describe(`gcs with fake-gcs-server: skipped (${FAKE_GCS_UNAVAILABLE})`, () => {
    it.skip("runs the conformance suite against fsouza/fake-gcs-server", () => {});
  });

  describeConformance("gcs contract (no Docker engine)", async () => {
    const server = await startGcsContractServer();
    return {
      store: new GcsObjectStore({
        bucket: server.bucket,
        apiEndpoint: server.apiEndpoint,
        projectId: "tessera-test",
      }),
      scheme: "gs:",
      async corrupt(key) {
        const o = server.objects.get(key);
        if (!o) throw new Error(`no object ${key}`);
        o.data[1000] = (o.data[1000] ?? 0) ^ 1;
      },
      teardown: () => server.stop(),
    };
  });

  describe("gcs contract (no Docker engine): request mapping", () => {
    it("uploads with the crc32c (server verifies), our hex copy in metadata, and ifGenerationMatch=0", async () => {
      const server = await startGcsContractServer();
      const store = new GcsObjectStore({
        bucket: server.bucket,
        apiEndpoint: server.apiEndpoint,
        projectId: "p",
      });
      try {
        const data = payload(4321, 5);
        const res = await store.put("map/x", data);
        expect(res.uri).toBe(`gs://${server.bucket}/map/x`);
        const up = server.requests.find((r) => r.path.startsWith("/upload/"));
        expect(up?.query.get("ifGenerationMatch")).toBe("0");
        expect(up?.query.get("name")).toBe("map/x");
        expect(up?.json).toMatchObject({
          crc32c: hexToBase64(crc32cHex(data)),
          metadata: { crc32c: crc32cHex(data) },
        });
        // A read pins the generation it verified against.
        await store.get("map/x");
        const media = server.requests.find((r) => r.query.get("alt") === "media");
        expect(media?.query.get("generation")).toBe(
          String(server.objects.get("map/x")?.generation),
        );
        // A list asks for pages of the requested size and follows the page token.
        for (const k of ["l/1", "l/2", "l/3"]) await store.put(k, payload(10));
        const keys: string[] = [];
        for await (const e of store.list("l/", { pageSize: 2 })) keys.push(e.key);
        expect(keys).toEqual(["l/1", "l/2", "l/3"]);
        const lists = server.requests.filter((r) => r.method === "GET" && r.path.endsWith("/o"));
        expect(lists.map((r) => r.query.get("maxResults"))).toEqual(["2", "2"]);
        expect(lists[1]?.query.get("pageToken")).toBe("l/2");
      } finally {
        await store.close();
        await server.stop();
      }
    });

    it("a stream of unknown checksum gets our crc32c recorded after the upload", async () => {
      const server = await startGcsContractServer();
      const store = new GcsObjectStore({
        bucket: server.bucket,
        apiEndpoint: server.apiEndpoint,
        projectId: "p",
      });
      try {
        const data = payload(100_000, 6);
        const { Readable } = await import("node:stream");
        await store.putStream("s/x", Readable.from([data.subarray(0, 1), data.subarray(1)]));
        expect(server.objects.get("s/x")?.metadata).toEqual({ crc32c: crc32cHex(data) });
        expect(server.requests.some((r) => r.method === "PATCH")).toBe(true);
      } finally {
        await store.close();
        await server.stop();
      }
    });
  });
}
