// docker-compose.secure.yml, checked without a Docker engine: Compose merges it over
// docker-compose.yml and every Tessera service's merged command line and environment go through
// that service's own parser (HTTPS, mutual TLS, NATS TLS and login, the token: all from files in
// the mounted secrets volume); Prometheus scrapes the same targets over HTTPS. Then the secrets
// its one-shot service makes (cli/scripts/make-secrets.sh) are made for real and used: a real
// nats-server started with the overlay's NATS flags admits a Tessera client configured by the
// overlay's variables and refuses one without its certificate or with a wrong password, and an
// HTTPS server with the certificate is trusted by a client of the CA.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsSecurityFromEnv, readApiToken } from "@tessera/config";
import { apiFetcher } from "@tessera/consensus/api-fetch";
import { freePorts, natsServerBinary, waitFor } from "@tessera/harness";
import { connect } from "@tessera/messaging";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { composeCli, ROOT, runCompose } from "./compose.test-helpers.js";
import { parseService, serviceOfMain } from "./service-config.test-helpers.js";

interface Service {
  image?: string;
  command?: string | string[];
  environment?: Record<string, string>;
  volumes?: (string | { target: string; source?: string })[];
  healthcheck?: { test?: string[] };
}
interface Prometheus {
  scrape_configs: {
    job_name: string;
    scheme?: string;
    tls_config?: { ca_file?: string };
    static_configs: { targets: string[] }[];
  }[];
}

const overlay = parse(readFileSync(join(ROOT, "docker-compose.secure.yml"), "utf8"), {
  merge: true,
}) as { services: Record<string, Service>; "x-secure-env": Record<string, string> };
const readProm = (file: string) =>
  parse(readFileSync(join(ROOT, "deploy/prometheus", file), "utf8"), { merge: true }) as Prometheus;
const SCRIPT_IN_REPO = "cli/scripts/make-secrets.sh";
const SCRIPT = join(ROOT, SCRIPT_IN_REPO);

/** A volume's path in the container (`source:target[:mode]` or the long form). */
const mountTarget = (v: NonNullable<Service["volumes"]>[number]) =>
  typeof v === "string" ? (v.split(":")[1] ?? "") : v.target;
const targets = (p: Prometheus) =>
  p.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets)).sort();

describe.skipIf(composeCli === undefined && !process.env.CI)(
  "docker-compose.secure.yml (merged by compose config)",
  () => {
    let merged: Record<string, Service>;

    beforeAll(() => {
      const r = runCompose([
        "-f",
        join(ROOT, "docker-compose.yml"),
        "-f",
        join(ROOT, "docker-compose.secure.yml"),
        "--profile",
        "standby",
        "config",
      ]);
      expect(r.stderr.replace(/.*WARN.*\n?/g, "")).toBe("");
      merged = (parse(r.stdout) as { services: Record<string, Service> }).services;
    });

    it("starts every Tessera service with HTTPS, mutual TLS, NATS TLS and the token", () => {
      const tessera = Object.entries(merged).filter(
        ([name, s]) => s.image === "tessera:dev" && name !== "secrets",
      );
      expect(tessera).toHaveLength(9);
      for (const [name, s] of tessera) {
        const argv = (
          typeof s.command === "string" ? s.command.split(/\s+/) : (s.command ?? [])
        ).filter((w) => w !== "");
        const env = s.environment ?? {};
        const service = serviceOfMain(argv[1] ?? "");
        expect(service, name).toBeDefined();
        // The service's own parser, on what the container runs with.
        const { config, https } = parseService(service!, argv.slice(2), env);
        if (service === "consensus" || service === "scheduler") {
          expect(config.clusterTls, name).toBeDefined();
        }
        if (service === "consensus" || service === "storage-manager") {
          expect(config.apiTokenFile, name).toBe("/secrets/api-token");
        }
        if (service === "scheduler") {
          const peers = config.consensus as string[];
          expect(
            peers.every((u) => u.startsWith("https://")),
            name,
          ).toBe(true);
        }
        expect(https, `${name} serves HTTPS`).toBe(true);
        expect(natsSecurityFromEnv(env), name).toMatchObject({
          user: "tessera",
          passwordFile: "/secrets/nats-password",
          tlsCertFile: "/secrets/tls.crt",
        });
        // Every file it is pointed at is in the secrets volume, mounted read-only.
        expect((s.volumes ?? []).map(mountTarget), name).toContain("/secrets");
        expect(s.healthcheck?.test?.join(" "), name).toMatch(/fetch\('https:\/\/127\.0\.0\.1:/);
      }
    });

    it("runs the secrets service, with the image's script, before NATS and every Tessera process", () => {
      // The image holds the repository at /app (deploy/ excluded, cli/ included).
      const script = (merged.secrets?.command as string[] | undefined)?.[0];
      expect(script).toBe(`/app/${SCRIPT_IN_REPO}`);
      for (const [name, s] of Object.entries(merged)) {
        const needsSecrets =
          /^nats-\d$/.test(name) || (s.image === "tessera:dev" && name !== "secrets");
        if (!needsSecrets) continue;
        const deps = (s as { depends_on?: Record<string, { condition: string }> }).depends_on;
        expect(deps?.secrets?.condition, name).toBe("service_completed_successfully");
      }
    });
  },
);

describe("docker-compose.secure.yml's Prometheus configuration", () => {
  it("scrapes the same targets as the plain one, every Tessera job over HTTPS with the CA", () => {
    const plain = readProm("prometheus.yml");
    const secure = readProm("prometheus.secure.yml");
    expect(targets(secure)).toEqual(targets(plain));
    for (const job of secure.scrape_configs.filter((c) => c.job_name.startsWith("tessera-"))) {
      expect(job.scheme, job.job_name).toBe("https");
      expect(job.tls_config?.ca_file, job.job_name).toBe("/secrets/ca.crt");
    }
  });
});

describe("cli/scripts/make-secrets.sh, used the way docker-compose.secure.yml uses it", () => {
  let dir: string;
  let nats: ChildProcess | undefined;
  /** The overlay's variables with /secrets moved to the test's directory. */
  let env: Record<string, string>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tessera-compose-secrets-"));
    const hosts = (overlay.services.secrets?.command as string[] | undefined)?.slice(2) ?? [];
    execFileSync("sh", [SCRIPT, dir, ...hosts], {
      stdio: "pipe",
    });
    env = Object.fromEntries(
      Object.entries(overlay["x-secure-env"]).map(([k, v]) => [k, v.replaceAll("/secrets", dir)]),
    );
  });

  afterAll(() => {
    nats?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("makes a certificate of its CA naming every host the services reach each other by", () => {
    const cert = new X509Certificate(readFileSync(join(dir, "tls.crt")));
    expect(cert.verify(new X509Certificate(readFileSync(join(dir, "ca.crt"))).publicKey)).toBe(
      true,
    );
    const names = new Set((cert.subjectAltName ?? "").split(", "));
    const hosts = [
      ...targets(readProm("prometheus.secure.yml")),
      ...(env.TESSERA_SERVER ?? "").split(","),
      "nats-1:4222",
      "nats-2:4222",
      "nats-3:4222",
    ]
      .map((t) => t.replace(/^https?:\/\//, "").split(":")[0] ?? "")
      .filter((h) => h !== "localhost" && h !== "nats-exporter");
    for (const h of hosts) expect(names, h).toContain(`DNS:${h}`);
    expect(names).toContain("IP Address:127.0.0.1");
    const fail = (flag: string, reason: string): never => {
      throw new Error(`--${flag}: ${reason}`);
    };
    expect(readApiToken(join(dir, "api-token"), fail)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps what it made when run again (a restart does not rotate the cluster's secrets)", () => {
    const before = readFileSync(join(dir, "tls.crt"), "utf8");
    execFileSync("sh", [SCRIPT, dir, "x"], { stdio: "pipe" });
    expect(readFileSync(join(dir, "tls.crt"), "utf8")).toBe(before);
  });

  it("the overlay's NATS command admits a client of its settings and no other", async () => {
    const [client, monitor] = await freePorts(2);
    // nats-1's command with its ports, paths and cluster routes moved onto this machine.
    const command = (overlay.services["nats-1"]?.command as string[] | undefined)?.[0] ?? "";
    const local = command
      .replace("exec nats-server", `exec ${natsServerBinary()} -a 127.0.0.1 -p ${client}`)
      .replace(/--cluster \S+ --routes \S+/, "")
      .replace("-m 8222", `-m ${monitor}`)
      .replace("-sd /data", `-sd ${join(dir, "data")}`)
      .replaceAll("/secrets", dir)
      .replaceAll("$$", "$");
    nats = spawn("sh", ["-c", local], { stdio: "ignore" });
    await waitFor(
      "the secured nats-server",
      async () =>
        (await fetch(`http://127.0.0.1:${monitor}/healthz`).catch(() => undefined))?.ok === true,
      30_000,
    );
    const server = `nats://127.0.0.1:${client}`;
    const nc = await connect({ servers: server, name: "test", security: natsSecurityFromEnv(env) });
    expect(nc.info?.tls_required).toBe(true);
    await nc.close();

    writeFileSync(join(dir, "wrong"), "not-the-password\n");
    const attempts = {
      "no client certificate": { ...env, TESSERA_NATS_TLS_CERT: "", TESSERA_NATS_TLS_KEY: "" },
      "a wrong password": { ...env, TESSERA_NATS_PASSWORD_FILE: join(dir, "wrong") },
    };
    for (const [what, e] of Object.entries(attempts)) {
      const refused = await connect({
        servers: server,
        name: "test",
        security: natsSecurityFromEnv(e),
        connectTimeoutMs: 3_000,
      }).then(
        async (c) => {
          await c.close();
          return false;
        },
        () => true,
      );
      expect(refused, what).toBe(true);
    }
  });

  it("its certificate serves HTTPS to a client of its CA", async () => {
    const https = createServer(
      { cert: readFileSync(join(dir, "tls.crt")), key: readFileSync(join(dir, "tls.key")) },
      (_req, res) => res.end("ok"),
    );
    await new Promise<void>((r) => https.listen(0, "127.0.0.1", r));
    const port = (https.address() as { port: number }).port;
    try {
      const get = apiFetcher(readFileSync(join(dir, "ca.crt"), "utf8"));
      expect(await (await get(`https://127.0.0.1:${port}/readyz`)).text()).toBe("ok");
    } finally {
      https.close();
    }
  });
});
