// Mutual TLS on the consensus gRPC port, for real: a gRPC server with the cluster's credentials
// (the Manifest service of a tiny server) answers a client presenting a certificate of the
// cluster CA, and refuses a plaintext client, one whose certificate another CA signed, and a
// server whose certificate does not name the IP the client dialled.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { makeTestPki, type TestPki } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServiceError } from "../api/errors.js";
import { ManifestClient } from "../api/manifest-client.js";
import { type InfoReplyWire, manifestServiceDefinition } from "../api/manifest-grpc.js";
import { type ClusterTls, loadClusterTls, serverCredentials } from "./cluster-tls.js";

// Every process warning of this file's process (vitest runs each file in its own): a peer reached
// by IP must not make Node warn that TLS's server name is an IP (DEP0123).
const warnings: Error[] = [];
process.on("warning", (w) => warnings.push(w));

let pki: TestPki;
let server: grpc.Server;
let address: string;
let serverTls: ClusterTls;

beforeAll(async () => {
  pki = await makeTestPki();
  serverTls = loadClusterTls({
    caFile: pki.caFile,
    certFile: pki.serverCertFile,
    keyFile: pki.serverKeyFile,
  });
  server = new grpc.Server();
  // Only Info: the test is about who may connect, not what the service does.
  const info: grpc.handleUnaryCall<unknown, Partial<InfoReplyWire>> = (_call, cb) =>
    cb(null, { id: 7, role: "leader" });
  server.addService(manifestServiceDefinition(), { Info: info });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", serverCredentials(serverTls), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  address = `127.0.0.1:${port}`;
}, 60_000);

afterAll(async () => {
  server?.forceShutdown();
  await pki?.remove();
});

const infoWith = async (tls: ClusterTls | undefined) => {
  const client = new ManifestClient({
    peers: [address],
    attemptTimeoutMs: 1_000,
    timeoutMs: 2_500,
    ...(tls ? { tls } : {}),
  });
  try {
    return await client.info(address);
  } finally {
    client.close();
  }
};

describe("cluster TLS on the consensus gRPC port", () => {
  it("answers a client that presents a certificate of the cluster CA", async () => {
    const tls = loadClusterTls({
      caFile: pki.caFile,
      certFile: pki.clientCertFile,
      keyFile: pki.clientKeyFile,
    });
    expect((await infoWith(tls)).id).toBe(7);
  });

  it("refuses a plaintext client and a certificate of another CA", async () => {
    await expect(infoWith(undefined)).rejects.toThrow();
    const foreign = loadClusterTls({
      caFile: pki.caFile,
      certFile: pki.foreignCertFile,
      keyFile: pki.foreignKeyFile,
    });
    await expect(infoWith(foreign)).rejects.toThrow();
    // And a client that trusts another CA does not accept this server.
    const distrustful = loadClusterTls({
      caFile: pki.otherCaFile,
      certFile: pki.foreignCertFile,
      keyFile: pki.foreignKeyFile,
    });
    await expect(infoWith(distrustful)).rejects.toThrow();
  });

  it("dials a peer by IP without Node's DEP0123 warning, still checking the certificate against that IP", async () => {
    // The same certificate (IP SAN 127.0.0.1) served on 127.0.0.2, also this machine.
    const other = new grpc.Server();
    other.addService(manifestServiceDefinition(), {
      Info: ((_call, cb) => cb(null, { id: 8 })) as grpc.handleUnaryCall<unknown, unknown>,
    });
    const port = await new Promise<number>((resolve, reject) =>
      other.bindAsync("127.0.0.2:0", serverCredentials(serverTls), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    const tls = loadClusterTls({
      caFile: pki.caFile,
      certFile: pki.clientCertFile,
      keyFile: pki.clientKeyFile,
    });
    const client = new ManifestClient({
      peers: [`127.0.0.2:${port}`],
      attemptTimeoutMs: 1_000,
      timeoutMs: 2_500,
      tls,
    });
    try {
      await expect(client.info(`127.0.0.2:${port}`)).rejects.toThrow(
        /ERR_TLS_CERT_ALTNAME_INVALID.*IP: 127\.0\.0\.2 is not in the cert's list/,
      );
    } finally {
      client.close();
      other.forceShutdown();
    }
    expect(warnings.filter((w) => (w as { code?: string }).code === "DEP0123")).toEqual([]);
  });

  it("names the flag of a file it cannot use", async () => {
    const notPem = join(pki.dir, "not-pem.txt");
    await writeFile(notPem, "hello\n");
    const bad = (files: Parameters<typeof loadClusterTls>[0], message: string) => {
      expect(() => loadClusterTls(files)).toThrow(ServiceError);
      expect(() => loadClusterTls(files)).toThrow(message);
    };
    const good = { caFile: pki.caFile, certFile: pki.serverCertFile, keyFile: pki.serverKeyFile };
    bad({ ...good, caFile: join(pki.dir, "missing.pem") }, "--cluster-tls-ca: cannot read");
    bad({ ...good, certFile: notPem }, "--cluster-tls-cert: ");
    bad({ ...good, keyFile: pki.serverCertFile }, "--cluster-tls-key: ");
  });
});
