// HTTPS on a peer's HTTP API, for real: a one-peer cluster started with --api-tls-cert/-key and
// a token answers a client that trusts the certificate's CA (--api-ca) over TLS, lists its own
// address as https://, and a client that trusts only the system's roots or another CA, or that
// speaks plain HTTP to the port, gets no answer at all (the token never leaves in the clear). Its
// /metrics says when the certificate expires.

import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { certificateNotAfter, readCertificateFile } from "@tessera/config";
import { freePorts, makeTestPki, type TestPki } from "@tessera/harness";
import { createLogger } from "@tessera/observability";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConsensusConfig } from "../config.js";
import { apiFetcher, fetchFailureReason } from "./api-fetch.js";
import { type ServiceHandle, startConsensusService } from "./service.js";

let pki: TestPki;
let dir: string;
let service: ServiceHandle;
let base: string;
const token = "0123456789abcdef0123456789abcdef";
const fail = (flag: string, reason: string): never => {
  throw new Error(`--${flag}: ${reason}`);
};

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await mkdtemp(join(tmpdir(), "tessera-https-"));
  await writeFile(join(dir, "token"), `${token}\n`);
  const [grpcPort, httpPort] = await freePorts(2);
  const config = parseConsensusConfig([
    "--id",
    "1",
    "--peers",
    `1=127.0.0.1:${grpcPort}`,
    "--http",
    `127.0.0.1:${httpPort}`,
    "--data",
    join(dir, "data"),
    "--api-tls-cert",
    pki.serverCertFile,
    "--api-tls-key",
    pki.serverKeyFile,
    "--api-token-file",
    join(dir, "token"),
    "--tick-ms",
    "20",
  ]);
  service = await startConsensusService(config, createLogger({ service: "test", level: "silent" }));
  base = `https://127.0.0.1:${httpPort}`;
}, 60_000);

afterAll(async () => {
  await service?.stop();
  await pki?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const authorized = { authorization: `Bearer ${token}` };

describe("HTTPS on the consensus HTTP API", () => {
  it("answers a client that trusts the certificate's CA, and names its peers https://", async () => {
    const apiFetch = apiFetcher(readCertificateFile("api-ca", pki.caFile, fail));
    const res = await apiFetch(`${base}/v1/cluster`, { headers: authorized });
    expect(res.status).toBe(200);
    const view = (await res.json()) as { peers?: { http?: string }[] };
    expect(view.peers?.map((p) => p.http)).toEqual([base]);
    // Probes need no token, but still TLS.
    expect((await apiFetch(`${base}/healthz`)).status).toBe(200);
    expect((await apiFetch(`${base}/v1/cluster`)).status).toBe(401);
  });

  it("reports when its certificate expires, for an alert weeks ahead", async () => {
    const apiFetch = apiFetcher(readCertificateFile("api-ca", pki.caFile, fail));
    const metrics = await (await apiFetch(`${base}/metrics`)).text();
    const expiry = Number(
      /^tessera_tls_certificate_expiry_timestamp_seconds\{[^}]*flag="api-tls-cert"[^}]*\} (\d+)$/m.exec(
        metrics,
      )?.[1],
    );
    expect(expiry).toBe(
      Math.floor(certificateNotAfter(readFileSync(pki.serverCertFile, "utf8")) / 1000),
    );
    // The test CA's certificates are valid for two days.
    expect(Math.abs(expiry - (Date.now() / 1000 + 2 * 86_400))).toBeLessThan(600);
  });

  it("is refused by clients that trust other roots, and answers no plain HTTP", async () => {
    const why = (p: Promise<unknown>) => p.then(() => "answered", fetchFailureReason);
    // The reason a person reads says what to do.
    const untrusted = /^[A-Z_]+: the peer's HTTPS certificate is not trusted \(--api-ca names/;
    expect(await why(apiFetcher()(`${base}/healthz`))).toMatch(untrusted);
    const other = apiFetcher(readCertificateFile("api-ca", pki.otherCaFile, fail));
    expect(await why(other(`${base}/healthz`))).toMatch(untrusted);
    const plain = base.replace("https://", "http://");
    const refused = await apiFetcher()(`${plain}/v1/cluster`, { headers: authorized }).then(
      () => "answered",
      (err: unknown) => fetchFailureReason(err, plain),
    );
    expect(refused).toBe(
      `UND_ERR_SOCKET: closed without an answer (does it serve HTTPS? try ${base})`,
    );
  });
});
