// A whole cluster with its links secured: NATS requires TLS with client certificates (mutual TLS)
// and a user's password, and the consensus peers' gRPC port (Raft between peers, the Manifest API
// the scheduler proposes through) requires mutual TLS with the cluster's CA, and the peers' HTTP
// API is HTTPS and requires a bearer token (health, readiness and metrics excepted). Every service
// connects with the same TESSERA_NATS_… / TESSERA_CLUSTER_TLS_… / TESSERA_API_… settings, the
// CLI too, a job ends verified with
// the reference digest, the NATS server saw only authenticated TLS connections, a peer's gRPC
// refuses plaintext and foreign certificates, and the CLI reads the shipped logs with the same
// flags. A service given a wrong password stops at once, saying so.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { readCertificateFile } from "@tessera/config";
import {
  apiFetcher,
  fetchFailureReason,
  loadClusterTls,
  ManifestClient,
} from "@tessera/consensus/client";
import { makeTestPki, startNatsServer } from "@tessera/harness";
import type { MatmulJobSpec } from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import { referenceDigest, runCli, submitViaCli } from "./jobs.js";
import {
  expectVerified,
  onCleanup,
  startCluster,
  useClusterPerTest,
} from "./scenario.test-helpers.js";

const spec: MatmulJobSpec = { n: 256, tile: 64, mode: "exact", seed: 11 };

interface Connz {
  connections: { name?: string; tls_version?: string; authorized_user?: string }[];
}

describe("e2e: secured links (NATS: mutual TLS + password; peers' gRPC: mutual TLS; HTTP API: HTTPS + token)", () => {
  useClusterPerTest();

  it("runs a verified job with every link authenticated over TLS", async () => {
    const pki = await makeTestPki();
    const secrets = await mkdtemp(join(tmpdir(), "tessera-e2e-secrets-"));
    onCleanup(() => pki.remove());
    onCleanup(() => rm(secrets, { recursive: true, force: true }));
    await writeFile(join(secrets, "password"), "e2e-s3cret\n");
    await writeFile(join(secrets, "wrong"), "not-it\n");
    const token = randomBytes(32).toString("hex");
    await writeFile(join(secrets, "api-token"), `${token}\n`);
    // The CLI runs below (child processes of this one) and the suite's own requests read the
    // token and the API's CA as an operator's shell would.
    const clientEnv = {
      TESSERA_API_TOKEN_FILE: join(secrets, "api-token"),
      TESSERA_API_CA: pki.caFile,
    };
    for (const [name, value] of Object.entries(clientEnv)) {
      const before = process.env[name];
      process.env[name] = value;
      onCleanup(async () => {
        if (before === undefined) delete process.env[name];
        else process.env[name] = before;
      });
    }
    const nats = await startNatsServer({
      security: {
        tls: {
          certFile: pki.serverCertFile,
          keyFile: pki.serverKeyFile,
          caFile: pki.caFile,
          verifyClients: true,
        },
        users: [{ user: "tessera", password: "e2e-s3cret" }],
      },
    });
    onCleanup(() => nats.stop());
    const securityEnv = {
      TESSERA_NATS_USER: "tessera",
      TESSERA_NATS_PASSWORD_FILE: join(secrets, "password"),
      TESSERA_NATS_TLS_CA: pki.caFile,
      TESSERA_NATS_TLS_CERT: pki.clientCertFile,
      TESSERA_NATS_TLS_KEY: pki.clientKeyFile,
    };
    const clusterTlsEnv = {
      TESSERA_CLUSTER_TLS_CA: pki.caFile,
      TESSERA_CLUSTER_TLS_CERT: pki.serverCertFile,
      TESSERA_CLUSTER_TLS_KEY: pki.serverKeyFile,
    };
    const cluster = await startCluster({
      nats: [nats.url],
      env: {
        ...securityEnv,
        ...clusterTlsEnv,
        ...clientEnv,
        TESSERA_API_TLS_CERT: pki.serverCertFile,
        TESSERA_API_TLS_KEY: pki.serverKeyFile,
      },
    });

    const r = await submitViaCli(cluster, spec, "e2e-secured").result;
    expectVerified(r, spec, referenceDigest(spec));

    // Every client the server has is a Tessera service, over TLS, logged in as the user.
    const res = await fetch(`http://127.0.0.1:${nats.monitorPort}/connz?auth=true&limit=1024`);
    const connz = (await res.json()) as Connz;
    const names = connz.connections.map((c) => c.name ?? "");
    for (const expected of [
      /^consensus:1$/,
      /^consensus:2$/,
      /^consensus:3$/,
      /^scheduler:/,
      /^storage-manager:/,
      /^tessera-agent-agent-1$/,
      /^tessera-agent-agent-2$/,
    ]) {
      expect(
        names.some((n) => expected.test(n)),
        `a connection named ${expected}`,
      ).toBe(true);
    }
    for (const c of connz.connections) {
      expect(c.tls_version, `${c.name} over TLS`).toMatch(/^1\.[23]$/);
      expect(c.authorized_user, `${c.name} logged in`).toBe("tessera");
    }

    // The peers' gRPC port takes only clients presenting a certificate of the cluster CA.
    const grpcAddress = cluster.info.peers[0]?.grpc ?? "";
    const answers = (certFile?: string, keyFile?: string): Promise<boolean> => {
      const tls =
        certFile && keyFile
          ? { tls: loadClusterTls({ caFile: pki.caFile, certFile, keyFile }) }
          : {};
      const client = new ManifestClient({ peers: [grpcAddress], timeoutMs: 2_500, ...tls });
      return client
        .info(grpcAddress)
        .then((info) => info.id === 1)
        .catch(() => false)
        .finally(() => client.close());
    };
    expect(await answers(pki.clientCertFile, pki.clientKeyFile), "a client of the CA").toBe(true);
    expect(await answers(), "a plaintext client").toBe(false);
    expect(await answers(pki.foreignCertFile, pki.foreignKeyFile), "another CA's").toBe(false);

    // The HTTP API is HTTPS: a client must trust the cluster's CA, plain HTTP gets no answer.
    const http = cluster.info.peers[0]?.http ?? "";
    expect(http).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const trusting = apiFetcher(
      readCertificateFile("api-ca", pki.caFile, (_flag, reason) => {
        throw new Error(reason);
      }),
    );
    const failure = (p: Promise<unknown>) => p.then(() => "answered", fetchFailureReason);
    expect(await failure(fetch(`${http}/healthz`))).toMatch(/not trusted \(--api-ca/);
    expect(await failure(fetch(`${http.replace("https:", "http:")}/healthz`))).not.toBe("answered");
    // It answers only the token (probes and metrics stay open).
    const status = async (path: string, headers: Record<string, string> = {}) =>
      (await trusting(`${http}${path}`, { headers })).status;
    expect(await status("/v1/cluster", { authorization: `Bearer ${token}` })).toBe(200);
    const refused = await trusting(`${http}/v1/cluster`);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      "TESSERA_E_CONSENSUS_UNAUTHORIZED",
    );
    expect(await status("/admin/faults", { authorization: "Bearer not-the-token" })).toBe(401);
    expect(await status("/healthz")).toBe(200);
    // Each refusal is counted by reason (Prometheus scrapes /metrics without the token).
    const metrics = await (await trusting(`${http}/metrics`)).text();
    const refusals = (reason: string) =>
      Number(
        new RegExp(
          `^tessera_consensus_http_unauthorized_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`,
          "m",
        ).exec(metrics)?.[1],
      );
    expect(refusals("missing")).toBeGreaterThanOrEqual(1);
    expect(refusals("wrong")).toBeGreaterThanOrEqual(1);
    // So is the storage-manager's outputs API (same certificate, same token)...
    const sm = cluster.storageManagerHttp;
    expect(sm).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const outputsUrl = `${sm}/v1/jobs/e2e-secured/outputs`;
    expect((await trusting(outputsUrl)).status).toBe(401);
    const outputs = await trusting(outputsUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(outputs.status).toBe(200);
    expect(((await outputs.json()) as { stored: unknown[] }).stored).toHaveLength(16);
    // ...and every process's probes and metrics, which need no token.
    for (const url of [cluster.info.scheduler.http, ...cluster.info.agents.map((a) => a.http)]) {
      expect(url).toMatch(/^https:\/\//);
      expect((await trusting(`${url}/metrics`)).status).toBe(200);
    }
    // The CLI sends it to every peer it asks (cluster status reads each one's own view).
    const cs = await runCli<{ peers: { id: number; role: string }[] }>(cluster, [
      "cluster",
      "status",
    ]).result;
    expect(cs.peers.map((p) => p.role).sort()).toEqual(["follower", "follower", "leader"]);
    // Without the CA it says what is wrong and what to pass.
    delete process.env.TESSERA_API_CA;
    const untrusted = await runCli<{ error?: { message?: string } }>(cluster, ["job", "list"])
      .result;
    process.env.TESSERA_API_CA = pki.caFile;
    expect(untrusted.error?.message).toMatch(/certificate is not trusted \(--api-ca names/);

    // `tessera dev env` hands another shell the same settings (paths only).
    const devEnv = await runCli<Record<string, string>>(cluster, [
      "dev",
      "env",
      "--data",
      cluster.info.dataDir,
    ]).result;
    expect(devEnv).toMatchObject({ ...securityEnv, ...clientEnv });

    // The CLI reads the shipped logs with the same settings given as flags.
    const logs = await runCli<{ lines: unknown[] }>(cluster, [
      "logs",
      "--job",
      "e2e-secured",
      "--nats",
      nats.url,
      "--nats-user",
      "tessera",
      "--nats-password-file",
      join(secrets, "password"),
      "--nats-tls-ca",
      pki.caFile,
      "--nats-tls-cert",
      pki.clientCertFile,
      "--nats-tls-key",
      pki.clientKeyFile,
    ]).result;
    expect(logs.lines.length).toBeGreaterThan(0);

    // A scheduler with a wrong password exits 1 at once, naming the refusal.
    const require = createRequire(import.meta.url);
    const scheduler = join(dirname(require.resolve("@tessera/scheduler")), "..", "dist", "main.js");
    const child = spawn(
      process.execPath,
      [scheduler, "--consensus", cluster.servers.split(",")[0] ?? "", "--nats", nats.url],
      {
        env: { ...process.env, ...securityEnv, TESSERA_NATS_PASSWORD_FILE: join(secrets, "wrong") },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/refused this connection: .*check the NATS credentials/i);
  });
});
