// The deployment files agree with the code they start (no Docker engine needed): every Tessera
// service in docker-compose.yml has a command line its own config parser accepts, Prometheus
// scrapes each one on the port it listens on, and the Grafana provisioning names the datasource
// the dashboards use. A renamed flag or a moved port fails here, not at `docker compose up`.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAgentConfig } from "@tessera/agent";
import { TILE_BUFFER_MALLOC_ENV } from "@tessera/config";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { composeCli, ROOT, runCompose } from "./compose.test-helpers.js";
import { parseService, serviceOfMain, TESSERA_SERVICES } from "./service-config.test-helpers.js";

const readYaml = (path: string) => parse(readFileSync(join(ROOT, path), "utf8"), { merge: true });

interface ComposeService {
  image?: string;
  command?: string | string[];
  environment?: Record<string, string>;
  healthcheck?: { test?: string[] };
}
const compose = readYaml("docker-compose.yml") as { services: Record<string, ComposeService> };

/** `${VAR:-default}` → default (what compose substitutes when VAR is unset). */
const withDefaults = (s: string) => s.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");

/** The Tessera services: name → their entry script and arguments. */
const tessera = Object.entries(compose.services)
  .filter(([, s]) => s.image === "tessera:dev")
  .map(([name, s]) => {
    const argv = (
      Array.isArray(s.command) ? s.command : withDefaults(s.command ?? "").split(/\s+/)
    ).filter((a) => a !== "");
    expect(argv[0], name).toBe("node");
    return { name, main: argv[1] ?? "", args: argv.slice(2), service: s };
  });

/** Runs the service's own config parser on the compose command line; returns its --http port. */
function parseFor(main: string, args: string[], env: Record<string, string>): number {
  const service = serviceOfMain(main);
  if (!service) throw new Error(`${main}: not a Tessera service entry point`);
  return parseService(service, args, env).httpPort;
}

/** The ENV of the Dockerfile's runtime stage (what every container of the image starts with). */
function dockerfileRuntimeEnv(): Record<string, string> {
  const text = readFileSync(join(ROOT, "Dockerfile"), "utf8").replace(/\\\n/g, " ");
  const runtime = text.slice(text.search(/^FROM .* AS runtime$/m));
  const env: Record<string, string> = {};
  for (const [, body = ""] of runtime.matchAll(/^ENV (.*)$/gm)) {
    for (const pair of body.trim().split(/\s+/)) {
      const eq = pair.indexOf("=");
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

describe("deployment files", () => {
  it("docker-compose.yml starts every Tessera service with flags its parser accepts", () => {
    expect(tessera.map((t) => t.name).sort()).toEqual(
      [
        "agent-1",
        "agent-2",
        "agent-standby",
        "consensus-1",
        "consensus-2",
        "consensus-3",
        "scheduler",
        "scheduler-2",
        "storage-manager",
      ].sort(),
    );
    for (const t of tessera) {
      const port = parseFor(t.main, t.args, t.service.environment ?? {});
      expect(port, `${t.name} listens on a fixed port`).toBeGreaterThan(0);
      // Its health check asks the port it listens on, and its logs reach TESSERA_LOGS.
      expect(t.service.healthcheck?.test?.join(" "), t.name).toContain(`:${port}/readyz`);
      expect(t.args, t.name).toContain("--ship-logs");
    }
  });

  it("the standby agent (profile standby) is the same agent, started with --standby", () => {
    const standby = tessera.find((t) => t.name === "agent-standby");
    const config = parseAgentConfig(standby!.args, {}, { nodeId: "x" });
    expect(config.standby).toBe(true);
    expect(config.nodeId).toBe("agent-standby");
    expect((compose.services["agent-standby"] as { profiles?: string[] }).profiles).toEqual([
      "standby",
    ]);
  });

  it("a bad flag in a compose command would be caught by the same parsers", () => {
    const agent = tessera.find((t) => t.name === "agent-1");
    expect(() => parseFor(agent!.main, [...agent!.args, "--http", "9500"], {})).toThrow(/--http/);
  });

  it("the image starts every process with the tile-buffer malloc settings, and compose keeps them", () => {
    expect(dockerfileRuntimeEnv()).toMatchObject(TILE_BUFFER_MALLOC_ENV);
    for (const t of tessera) {
      const overridden = Object.keys(t.service.environment ?? {}).filter(
        (name) => name in TILE_BUFFER_MALLOC_ENV,
      );
      expect(overridden, t.name).toEqual([]);
    }
  });

  it("every Tessera container has the storage settings, so `tessera verify` works in any", () => {
    // verify reads the job's outputs itself; the README runs the CLI in consensus-1.
    const storage = Object.entries(compose.services["storage-manager"]?.environment ?? {}).filter(
      ([name]) => /^(TESSERA_(S3|GCS)_|AWS_|GOOGLE_)/.test(name),
    );
    expect(storage.map(([name]) => name)).toContain("TESSERA_S3_ENDPOINT");
    for (const t of tessera) {
      expect(t.service.environment, t.name).toMatchObject(Object.fromEntries(storage));
    }
  });

  it("Prometheus scrapes every Tessera service on its --http port", () => {
    const prom = readYaml("deploy/prometheus/prometheus.yml") as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = new Set(
      prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets)),
    );
    for (const t of tessera) {
      const port = parseFor(t.main, t.args, t.service.environment ?? {});
      expect(targets, t.name).toContain(`${t.name}:${port}`);
    }
  });

  it("Grafana's provisioned datasource is the one every dashboard panel queries", () => {
    const ds = readYaml("grafana/provisioning/datasources/prometheus.yml") as {
      datasources: { uid: string; type: string }[];
    };
    const provided = new Set(ds.datasources.map((d) => `${d.type}/${d.uid}`));
    const dir = join(ROOT, "grafana/dashboards");
    const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const d = JSON.parse(readFileSync(join(dir, f), "utf8")) as {
        panels: { type: string; datasource?: { type: string; uid: string } }[];
      };
      for (const p of d.panels.filter((x) => x.type !== "row")) {
        expect(provided, f).toContain(`${p.datasource?.type}/${p.datasource?.uid}`);
      }
    }
  });
});

// Compose's own schema check (`config` needs no Docker engine): a misspelt key, a depends_on
// naming no service, a bad healthcheck or profile fail here.

/** `config -q` on the given Compose text, resolved against the repo root; null when valid. */
function composeConfigError(text: string, profiles: string[] = []): string | null {
  const r = runCompose(
    ["-f", "-", ...profiles.flatMap((p) => ["--profile", p]), "config", "-q"],
    text,
  );
  return r.status === 0 ? null : r.stderr.trim();
}

describe.skipIf(composeCli === undefined && !process.env.CI)(
  "docker-compose.yml (compose config)",
  () => {
    const text = readFileSync(join(ROOT, "docker-compose.yml"), "utf8");

    it("is a valid Compose file, with and without the standby profile", () => {
      expect(composeCli, "docker compose or docker-compose on the PATH").toBeDefined();
      expect(composeConfigError(text)).toBeNull();
      expect(composeConfigError(text, ["standby"])).toBeNull();
    });

    it("the same check refuses a misspelt key and a dependency on no service", () => {
      expect(composeConfigError(text.replace(/\brestart:/g, "restartt:"))).toMatch(/restartt/);
      expect(
        composeConfigError(text.replace(/^( {6})nats-1:\n( {8}condition)/m, "$1nats-9:\n$2")),
      ).toMatch(/nats-9/);
    });
  },
);

// No helm binary here (the chart README says what was rendered and when), so these read the
// templates as text: what they can catch without rendering is a value that does not exist and a
// flag a service would refuse at start (both fail silently or crash-loop only on a cluster).
describe("helm chart (templates read as text)", () => {
  const chart = join(ROOT, "helm/tessera");
  const values = readYaml("helm/tessera/values.yaml") as Record<string, unknown>;
  const templates = readdirSync(join(chart, "templates"))
    .filter((f) => /\.(yaml|tpl|txt)$/.test(f))
    .map((f) => ({ file: f, text: readFileSync(join(chart, "templates", f), "utf8") }));

  const parsers: Record<string, (args: string[]) => unknown> = Object.fromEntries(
    TESSERA_SERVICES.map((service) => [service, (a: string[]) => parseService(service, a, {})]),
  );

  /** The flags a template passes to `node services/<service>/dist/main.js`, literal ones only. */
  function chartFlags(): { service: string; flag: string; file: string }[] {
    const out: { service: string; flag: string; file: string }[] = [];
    for (const { file, text } of templates) {
      for (const m of text.matchAll(/services\/([a-z-]+)\/dist\/main\.js/g)) {
        // The command line runs from there to the container's next field (env, ports...).
        const rest = text.slice(m.index);
        const end = rest.search(/\n\s+(env|envFrom|ports):/);
        const cmd = end < 0 ? rest : rest.slice(0, end);
        for (const f of cmd.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)) {
          out.push({ service: m[1] ?? "", flag: f[0], file });
        }
      }
    }
    return out;
  }

  it("every .Values path a template reads is declared in values.yaml", () => {
    const missing: string[] = [];
    for (const { file, text } of templates) {
      for (const m of text.matchAll(/\bValues\.([A-Za-z_][\w.]*)/g)) {
        let node: unknown = values;
        for (const key of (m[1] ?? "").replace(/\.$/, "").split(".")) {
          if (typeof node !== "object" || node === null || !(key in node)) {
            missing.push(`${file}: .Values.${m[1]}`);
            break;
          }
          node = (node as Record<string, unknown>)[key];
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("every Tessera container's flags are known to that service's parser", () => {
    const flags = chartFlags();
    // All four services are started by the chart, the agents also as warm standbys.
    expect(new Set(flags.map((f) => f.service))).toEqual(new Set(Object.keys(parsers)));
    expect(flags).toContainEqual({ service: "agent", flag: "--standby", file: "agents.yaml" });
    for (const { service, flag, file } of flags) {
      const parse = parsers[service];
      expect(parse, `${file}: ${service}`).toBeDefined();
      // A flag alone: a known one fails on its missing value or another required flag, an
      // unknown one on its name.
      expect(() => parse?.([flag]), `${file}: ${service} ${flag}`).not.toThrow(/Unknown option/);
    }
  });

  it("the same check refuses a flag no parser knows", () => {
    expect(() => parsers.agent?.(["--slot"])).toThrow(/Unknown option '--slot'/);
  });

  it("warm-standby agents are a second Deployment, off by default", () => {
    const agents = templates.find((t) => t.file === "agents.yaml")?.text ?? "";
    expect((values.agents as { standby: { replicas: number } }).standby.replicas).toBe(0);
    expect(agents).toMatch(/if gt \(int \.Values\.agents\.standby\.replicas\) 0/);
    // A component label of their own keeps the two Deployments' selectors apart.
    expect(agents).toContain('"component" "agent-standby"');
  });
});
