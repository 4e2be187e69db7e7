// The Helm chart rendered, not just read: deploy/helm-render runs the chart's templates through
// Helm's template engine (Go text/template + sprig, no helm binary or cluster needed) with the
// values an operator would set, and every Tessera container it yields is checked against the code
// it starts: its command line and environment parse with that service's own config parser, every
// secret file it is told about is mounted from a volume that exists, and its probes and
// Prometheus annotations speak HTTPS exactly when the service serves HTTPS.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TILE_BUFFER_MALLOC_ENV } from "@tessera/config";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { parseService, serviceOfMain, type TesseraService } from "./service-config.test-helpers.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");
// Debian's Go packages live in GOPATH mode (golang-github-masterminds-sprig-dev, yaml.v3).
const GOPATH = process.env.GOPATH ?? "/usr/share/gocode";
const canRender =
  spawnSync("go", ["version"]).status === 0 &&
  existsSync(join(GOPATH, "src/github.com/Masterminds/sprig")) &&
  existsSync(join(GOPATH, "src/gopkg.in/yaml.v3"));

type Obj = Record<string, unknown>;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Probe {
  httpGet?: { path: string; scheme?: string };
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  volumeMounts?: { name: string; mountPath: string }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}
interface Workload {
  kind: string;
  metadata: { name: string };
  spec: {
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: {
        containers: Container[];
        volumes?: { name: string; secret?: { secretName: string } }[];
      };
    };
  };
}

/** One Tessera container as the chart starts it, and what its own parser made of it. */
interface Started {
  workload: Workload;
  container: Container;
  service: TesseraService;
  env: Record<string, string>;
  /** Whether the parsed config serves HTTPS on its HTTP port. */
  https: boolean;
  config: Obj;
}

let dir: string;
let binary: string;

beforeAll(() => {
  if (!canRender) return;
  dir = mkdtempSync(join(tmpdir(), "tessera-helm-render-"));
  binary = join(dir, "helm-render");
  execFileSync("go", ["build", "-o", binary, "./deploy/helm-render"], {
    cwd: ROOT,
    env: { ...process.env, GO111MODULE: "off", GOPATH, GOFLAGS: "" },
    stdio: "pipe",
  });
}, 180_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function render(values: Obj): { status: number | null; stdout: string; stderr: string } {
  const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, stringify(values));
  const r = spawnSync(binary, [join(ROOT, "helm/tessera"), file], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function manifests(values: Obj): Obj[] {
  const r = render(values);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const yamlPart = r.stdout.slice(r.stdout.indexOf("---\n# Source"));
  return parseAllDocuments(yamlPart)
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);
}

/** The argv after `services/<service>/dist/main.js`, as the container's shell would pass it. */
function commandLine(c: Container, podName: string): { service: TesseraService; argv: string[] } {
  let words: string[];
  if (c.command?.[0] === "/bin/sh") {
    // A shell script ending in `exec node …`: let sh expand it, printing the words instead.
    const script = (c.args?.[0] ?? "").replace(/\bexec node\b/, "printf '%s\\0' node");
    const out = execFileSync("sh", ["-c", script], {
      env: { POD_NAME: podName },
      encoding: "utf8",
    });
    words = out.split("\0").filter((w) => w !== "");
  } else {
    words = [...(c.command ?? []), ...(c.args ?? [])];
  }
  const main = words.findIndex((w) => serviceOfMain(w) !== undefined);
  const service = serviceOfMain(words[main] ?? "");
  if (service === undefined) throw new Error(`${c.name}: no Tessera entry point in ${words}`);
  return { service, argv: words.slice(main + 1) };
}

function started(docs: Obj[]): Started[] {
  const configMaps = new Map(
    docs
      .filter((d) => d.kind === "ConfigMap")
      .map((d) => [
        (d.metadata as { name: string }).name,
        (d.data ?? {}) as Record<string, string>,
      ]),
  );
  const out: Started[] = [];
  for (const w of docs.filter((d) => d.kind === "Deployment" || d.kind === "StatefulSet")) {
    const workload = w as unknown as Workload;
    for (const container of workload.spec.template.spec.containers) {
      if (container.name === "nats" || container.name === "exporter") continue;
      const podName = `${workload.metadata.name}-0`;
      const { service, argv } = commandLine(container, podName);
      const env: Record<string, string> = {};
      for (const from of container.envFrom ?? []) {
        if (from.configMapRef) Object.assign(env, configMaps.get(from.configMapRef.name));
      }
      for (const e of container.env ?? []) {
        if (e.value !== undefined) env[e.name] = e.value;
        else if (e.valueFrom) env[e.name] = podName;
      }
      const { config, https } = parseService(service, argv, env);
      out.push({ workload, container, service, env, https, config });
    }
  }
  return out;
}

/** Every secret file a container's environment names lies in a mounted volume that exists. */
function expectMounted(s: Started): void {
  const mounts = s.container.volumeMounts ?? [];
  const volumes = new Set((s.workload.spec.template.spec.volumes ?? []).map((v) => v.name));
  for (const m of mounts) {
    if (m.name !== "data")
      expect(volumes, `${s.container.name}: volume ${m.name}`).toContain(m.name);
  }
  for (const [name, value] of Object.entries(s.env)) {
    if (!value.startsWith("/var/run/secrets/")) continue;
    expect(
      mounts.some((m) => value.startsWith(`${m.mountPath}/`)),
      `${s.workload.metadata.name}: ${name}=${value} is mounted`,
    ).toBe(true);
  }
}

/** Probes and Prometheus speak the scheme the service serves. */
function expectScheme(s: Started): void {
  const scheme = s.https ? "HTTPS" : "HTTP";
  for (const p of [
    s.container.startupProbe,
    s.container.livenessProbe,
    s.container.readinessProbe,
  ]) {
    if (p?.httpGet)
      expect(p.httpGet.scheme ?? "HTTP", `${s.workload.metadata.name} probe`).toBe(scheme);
  }
  const annotations = s.workload.spec.template.metadata.annotations ?? {};
  expect(annotations["prometheus.io/scheme"] ?? "http", s.workload.metadata.name).toBe(
    scheme.toLowerCase(),
  );
}

const secured = {
  consensus: {
    tlsSecret: "cluster-tls",
    apiTokenSecret: "api-token",
    apiTls: { secret: "api-tls", caKey: "ca.crt" },
  },
};

describe.skipIf(!canRender)("helm chart (rendered by Helm's template engine)", () => {
  it("by default: all four services, and warm standbys when asked, in plain HTTP", () => {
    const all = started(manifests({ agents: { standby: { replicas: 1 } } }));
    expect(all.map((s) => `${s.workload.metadata.name}:${s.service}`).sort()).toEqual([
      "rel-tessera-agents-standby:agent",
      "rel-tessera-agents:agent",
      "rel-tessera-consensus:consensus",
      "rel-tessera-scheduler:scheduler",
      "rel-tessera-storage-manager:storage-manager",
    ]);
    for (const s of all) {
      expect(s.https, s.service).toBe(false);
      expectScheme(s);
      expectMounted(s);
    }
    const standby = all.find((s) => s.workload.metadata.name.endsWith("standby"));
    expect(standby?.config.standby).toBe(true);
    // The image's tile-buffer malloc settings (Dockerfile ENV) reach every container unchanged.
    for (const s of all) {
      const overridden = Object.keys(s.env).filter((name) => name in TILE_BUFFER_MALLOC_ENV);
      expect(overridden, s.service).toEqual([]);
    }
  });

  it("secured: every service serves HTTPS, the token guards the peers' and the outputs API", () => {
    const all = started(manifests(secured));
    for (const s of all) {
      expect(s.https, `${s.service} serves HTTPS`).toBe(true);
      expectScheme(s);
      expectMounted(s);
    }
    const by = (service: string) => all.find((s) => s.service === service)?.config ?? {};
    expect(by("consensus").clusterTls).toBeDefined();
    expect(by("consensus").apiTokenFile).toBe("/var/run/secrets/tessera/api-token/token");
    expect(by("storage-manager").apiTokenFile).toBe("/var/run/secrets/tessera/api-token/token");
    // `tessera verify` runs in the storage-manager's pod (NOTES.txt), where the storage credentials
    // are: its CLI reaches the peers over HTTPS trusting the Secret's CA.
    const storageManager = all.find((s) => s.service === "storage-manager");
    expect(storageManager?.env.TESSERA_API_CA).toBe("/var/run/secrets/tessera/api-tls/ca.crt");
    // The scheduler reaches the peers over mutual TLS and HTTPS, trusting the Secret's CA.
    expect(by("scheduler")).toMatchObject({
      apiCaFile: "/var/run/secrets/tessera/api-tls/ca.crt",
      apiTokenFile: "/var/run/secrets/tessera/api-token/token",
    });
    expect((by("scheduler").consensus as string[]).every((u) => u.startsWith("https://"))).toBe(
      true,
    );
  });

  it("an external NATS with credentials and GCS storage: every process gets both", () => {
    const all = started(
      manifests({
        nats: {
          enabled: false,
          url: "tls://nats.example:4222",
          client: {
            secret: "nats-client",
            user: "tessera",
            passwordKey: "password",
            tlsCaKey: "ca.crt",
          },
        },
        storage: { backend: "gcs", gcs: { bucket: "tessera-data", credentialsSecret: "gcs-key" } },
      }),
    );
    for (const s of all) {
      expectMounted(s);
      expect(s.env.TESSERA_NATS_USER, s.service).toBe("tessera");
      if (s.service === "agent" || s.service === "storage-manager") {
        expect(s.config.storage, s.service).toBe("gcs:tessera-data");
        expect(s.env.GOOGLE_APPLICATION_CREDENTIALS).toMatch(
          /^\/var\/run\/secrets\/tessera\/gcs\//,
        );
      }
    }
  });

  it("refuses NATS credentials for the bundled NATS, saying what to set instead", () => {
    const r = render({ nats: { client: { secret: "nats-client", user: "u", passwordKey: "p" } } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/set nats\.enabled=false and nats\.url/);
  });
});
