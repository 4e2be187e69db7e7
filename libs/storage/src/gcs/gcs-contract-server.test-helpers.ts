/**
 * A minimal in-test HTTP server speaking the few GCS JSON API calls GcsObjectStore makes
 * (multipart upload, object get/metadata/patch/delete, rewrite, list). It exists only for the
 * "gcs contract (no Docker engine)" suite: it checks our request mapping where no real
 * fake-gcs-server can run. It validates the upload's crc32c like GCS does (400 on mismatch)
 * and honours ifGenerationMatch=0 (412 when the object exists).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { crc32c } from "@node-rs/crc32";

interface StoredObject {
  data: Buffer;
  /** Computed at upload, like GCS: later damage to `data` does not change it. */
  crc32c: string;
  generation: number;
  metageneration: number;
  contentType: string;
  metadata: Record<string, string>;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** Parsed JSON metadata part of a multipart upload, or JSON body of a PATCH. */
  readonly json?: Record<string, unknown>;
}

export interface GcsContractServer {
  readonly apiEndpoint: string;
  readonly bucket: string;
  readonly requests: RecordedRequest[];
  readonly objects: Map<string, StoredObject>;
  stop(): Promise<void>;
}

const PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold.";

function b64crc(data: Buffer): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32c(data) >>> 0);
  return b.toString("base64");
}

function resource(bucket: string, name: string, o: StoredObject) {
  return {
    kind: "storage#object",
    id: `${bucket}/${name}/${o.generation}`,
    name,
    bucket,
    generation: String(o.generation),
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    size: String(o.data.length),
    crc32c: o.crc32c,
    metadata: o.metadata,
  };
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, {
    error: { code: status, message, errors: [{ message, reason: "contract" }] },
  });
}

/** Splits a multipart/related body into its parts' headers and payloads. */
function parseMultipart(raw: Buffer, boundary: string): { headers: string; payload: Buffer }[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: string; payload: Buffer }[] = [];
  let pos = raw.indexOf(delimiter);
  while (pos >= 0) {
    const start = pos + delimiter.length;
    if (raw.subarray(start, start + 2).toString() === "--") break;
    const next = raw.indexOf(delimiter, start);
    if (next < 0) break;
    const part = raw.subarray(start + 2, next - 2); // strip CRLF after delimiter and before next
    const split = part.indexOf("\r\n\r\n");
    parts.push({ headers: part.subarray(0, split).toString(), payload: part.subarray(split + 4) });
    pos = next;
  }
  return parts;
}

export async function startGcsContractServer(bucket = "tessera-test"): Promise<GcsContractServer> {
  const objects = new Map<string, StoredObject>();
  const requests: RecordedRequest[] = [];
  let generation = 1000;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    const path = url.pathname;
    const q = url.searchParams;
    const upload = path.match(/^\/upload\/storage\/v1\/b\/([^/]+)\/o$/);
    const object = path.match(/^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/(.+)$/);
    const list = path.match(/^\/storage\/v1\/b\/([^/]+)\/o$/);
    const rewrite = path.match(
      /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)\/rewriteTo\/b\/([^/]+)\/o\/(.+)$/,
    );
    const b = (upload ?? rewrite ?? object ?? list)?.[1];
    if (b !== undefined && decodeURIComponent(b) !== bucket)
      return sendError(res, 404, "no such bucket");

    if (upload && method === "POST") {
      if (q.get("uploadType") !== "multipart")
        return sendError(res, 400, "contract server: only uploadType=multipart");
      const boundary = /boundary=("?)([^";]+)\1/.exec(req.headers["content-type"] ?? "")?.[2];
      if (!boundary) return sendError(res, 400, "no multipart boundary");
      const parts = parseMultipart(await body(req), boundary);
      const meta = JSON.parse(parts[0]?.payload.toString() ?? "{}") as Record<string, unknown>;
      const data = Buffer.from(parts[1]?.payload ?? Buffer.alloc(0));
      requests.push({ method, path, query: q, json: meta });
      const name = String(meta.name ?? q.get("name") ?? "");
      if (typeof meta.crc32c === "string" && meta.crc32c !== b64crc(data)) {
        return sendError(res, 400, "Provided CRC32C doesn't match calculated CRC32C");
      }
      if (q.get("ifGenerationMatch") === "0" && objects.has(name)) {
        return sendError(res, 412, PRECONDITION_FAILED);
      }
      const o: StoredObject = {
        data,
        crc32c: b64crc(data),
        generation: ++generation,
        metageneration: 1,
        contentType: String(meta.contentType ?? "application/octet-stream"),
        metadata: (meta.metadata as Record<string, string> | undefined) ?? {},
      };
      objects.set(name, o);
      return sendJson(res, 200, resource(bucket, name, o));
    }

    if (rewrite && method === "POST") {
      // One call copies everything (no rewriteToken); the source generation is honoured and
      // the destination keeps the source's metadata, as GCS does when none is given.
      requests.push({ method, path, query: q });
      if (decodeURIComponent(rewrite[3] ?? "") !== bucket)
        return sendError(res, 404, "no such bucket");
      const from = objects.get(decodeURIComponent(rewrite[2] ?? ""));
      const to = decodeURIComponent(rewrite[4] ?? "");
      const gen = q.get("sourceGeneration");
      if (!from || (gen !== null && gen !== String(from.generation)))
        return sendError(res, 404, "No such object");
      if (q.get("ifGenerationMatch") === "0" && objects.has(to)) {
        return sendError(res, 412, PRECONDITION_FAILED);
      }
      const o: StoredObject = {
        ...from,
        data: Buffer.from(from.data),
        metadata: { ...from.metadata },
        generation: ++generation,
        metageneration: 1,
      };
      objects.set(to, o);
      return sendJson(res, 200, {
        kind: "storage#rewriteResponse",
        totalBytesRewritten: String(o.data.length),
        objectSize: String(o.data.length),
        done: true,
        resource: resource(bucket, to, o),
      });
    }

    if (object) {
      const name = decodeURIComponent(object[2] ?? "");
      const o = objects.get(name);
      if (method === "PATCH") {
        const json = JSON.parse((await body(req)).toString() || "{}") as Record<string, unknown>;
        requests.push({ method, path, query: q, json });
        if (!o) return sendError(res, 404, "No such object");
        Object.assign(o.metadata, (json.metadata as Record<string, string> | undefined) ?? {});
        o.metageneration++;
        return sendJson(res, 200, resource(bucket, name, o));
      }
      requests.push({ method, path, query: q });
      if (!o || (q.has("generation") && q.get("generation") !== String(o.generation))) {
        return sendError(res, 404, "No such object");
      }
      if (method === "DELETE") {
        objects.delete(name);
        res.writeHead(204).end();
        return;
      }
      if (method === "GET" && q.get("alt") === "media") {
        res.writeHead(200, {
          "content-type": o.contentType,
          "content-length": o.data.length,
          "x-goog-generation": String(o.generation),
        });
        res.end(o.data);
        return;
      }
      if (method === "GET") return sendJson(res, 200, resource(bucket, name, o));
    }

    if (list && method === "GET") {
      requests.push({ method, path, query: q });
      const prefix = q.get("prefix") ?? "";
      const max = Number(q.get("maxResults") ?? 1000);
      const after = q.get("pageToken") ?? "";
      const names = [...objects.keys()]
        .filter(
          (n) =>
            n.startsWith(prefix) &&
            (after === "" || Buffer.compare(Buffer.from(n), Buffer.from(after)) > 0),
        )
        .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const page = names.slice(0, max);
      const more = names.length > max;
      return sendJson(res, 200, {
        kind: "storage#objects",
        items: page.map((n) => resource(bucket, n, objects.get(n) as StoredObject)),
        ...(more ? { nextPageToken: page[page.length - 1] } : {}),
      });
    }
    requests.push({ method, path, query: q });
    return sendError(res, 501, `contract server: ${method} ${path} is not part of the contract`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => sendError(res, 500, err.message));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    apiEndpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bucket,
    requests,
    objects,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
