// The storage-manager's HTTP API secured, for real (nats-server, fs storage, a test CA): with
// --api-tls-cert/-key it serves HTTPS only, and with --api-token-file its outputs API answers
// only the bearer of the token, while health, readiness and metrics stay open for probes and
// Prometheus (which also reads when the certificate expires). A bad token file stops the start
// naming the flag.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  httpsGet,
  makeTestPki,
  type NatsServer,
  startNatsServer,
  type TestPki,
} from "@tessera/harness";
import { createLogger } from "@tessera/observability";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStorageManagerConfig } from "./config.js";
import { StorageManager } from "./manager.js";

const token = "0123456789abcdef0123456789abcdef";
const log = createLogger({ service: "test", level: "silent" });

describe("storage-manager HTTP API over HTTPS with a bearer token", () => {
  let nats: NatsServer;
  let pki: TestPki;
  let dir: string;
  let manager: StorageManager;
  let ca: string;

  const argv = (tokenFile: string) => [
    "--nats",
    nats.url,
    "--storage",
    `fs:${join(dir, "storage")}`,
    "--http",
    "127.0.0.1:0",
    "--api-tls-cert",
    pki.serverCertFile,
    "--api-tls-key",
    pki.serverKeyFile,
    "--api-token-file",
    tokenFile,
  ];

  beforeAll(async () => {
    nats = await startNatsServer();
    pki = await makeTestPki();
    dir = mkdtempSync(join(tmpdir(), "tessera-sm-https-"));
    writeFileSync(join(dir, "token"), `${token}\n`);
    ca = readFileSync(pki.caFile, "utf8");
    manager = await StorageManager.start(
      parseStorageManagerConfig(argv(join(dir, "token")), {}),
      log,
      {},
    );
  }, 60_000);

  afterAll(async () => {
    await manager?.stop();
    await nats?.stop();
    await pki?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("lists job outputs only for the token's bearer; probes and metrics need none", async () => {
    const base = manager.httpAddress();
    expect(base).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await httpsGet(`${base}/healthz`, { ca })).status).toBe(200);
    expect((await httpsGet(`${base}/metrics`, { ca })).status).toBe(200);

    const missing = await httpsGet(`${base}/v1/jobs`, { ca });
    expect(missing.status).toBe(401);
    expect(missing.body).toContain("--api-token-file");
    const wrong = await httpsGet(`${base}/v1/jobs/j-1/outputs`, {
      ca,
      headers: { authorization: `Bearer ${"x".repeat(32)}` },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain("not this cluster's");

    const ok = await httpsGet(`${base}/v1/jobs`, {
      ca,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ jobs: [] });

    const metrics = (await httpsGet(`${base}/metrics`, { ca })).body;
    expect(metrics).toMatch(
      /^tessera_storage_manager_http_unauthorized_total\{[^}]*reason="missing"[^}]*\} 1$/m,
    );
    expect(metrics).toMatch(
      /^tessera_storage_manager_http_unauthorized_total\{[^}]*reason="wrong"[^}]*\} 1$/m,
    );
    // And when its certificate expires, as every process reports its own.
    const expiry =
      /^tessera_tls_certificate_expiry_timestamp_seconds\{[^}]*flag="api-tls-cert"[^}]*\} (\d+)$/m.exec(
        metrics,
      );
    expect(Number(expiry?.[1]) * 1000).toBeGreaterThan(Date.now());
  });

  it("answers nothing in the clear", async () => {
    const plain = manager.httpAddress().replace("https://", "http://");
    const res = await fetch(`${plain}/healthz`, { signal: AbortSignal.timeout(5_000) }).catch(
      (err: unknown) => err as Error,
    );
    expect(res).toBeInstanceOf(Error);
  });

  it("refuses a short token file at start, naming the flag", async () => {
    writeFileSync(join(dir, "short"), "abc\n");
    await expect(
      StorageManager.start(parseStorageManagerConfig(argv(join(dir, "short")), {}), log, {}),
    ).rejects.toThrow(/--api-token-file: .*short holds 3 characters/);
  });
});
