// The scheduler's discovery of the peers' gRPC addresses through their HTTP API (`--consensus
// http(s)://…`), against a real HTTPS server with a certificate of a throwaway CA: with that CA
// (`--api-ca`) and the token it finds the addresses; without the CA it fails saying what to pass;
// a port where nothing listens is named with its reason; gRPC entries pass through untouched.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { apiFetcher } from "@tessera/consensus/client";
import { freePorts, makeTestPki, type TestPki } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveGrpcPeers } from "./manifest.js";

let pki: TestPki;
let server: Server;
let url: string;
const token = "0123456789abcdef0123456789abcdef";

beforeAll(async () => {
  pki = await makeTestPki();
  server = createServer(
    { cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) },
    (req, res) => {
      const authorized = req.headers.authorization === `Bearer ${token}`;
      res.writeHead(authorized ? 200 : 401, { "content-type": "application/json" });
      res.end(JSON.stringify(authorized ? { peers: [{ id: 1, grpc: "10.0.0.1:7001" }] } : {}));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  server?.close();
  await pki?.remove();
});

describe("resolveGrpcPeers", () => {
  it("asks an HTTPS peer with the CA and the token, and passes gRPC entries through", async () => {
    const fetch = apiFetcher(readFileSync(pki.caFile, "utf8"));
    expect(await resolveGrpcPeers([url, "grpc://10.0.0.2:7002"], 2_000, { token, fetch })).toEqual([
      "10.0.0.1:7001",
      "10.0.0.2:7002",
    ]);
  });

  it("names each peer that did not answer and why", async () => {
    await expect(resolveGrpcPeers([url], 2_000, { token })).rejects.toThrow(
      /no consensus peer answered \(https:\/\/127\.0\.0\.1:\d+: [A-Z_]+: the peer's HTTPS certificate is not trusted \(--api-ca/,
    );
    const fetch = apiFetcher(readFileSync(pki.caFile, "utf8"));
    await expect(resolveGrpcPeers([url], 2_000, { fetch })).rejects.toThrow(/HTTP 401/);
    const [port] = await freePorts(1);
    await expect(resolveGrpcPeers([`http://127.0.0.1:${port}`], 2_000)).rejects.toThrow(
      `http://127.0.0.1:${port}: ECONNREFUSED`,
    );
  });
});
