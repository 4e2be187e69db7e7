// The deployment files agree with the code they start (no Docker engine needed): every Tessera
// service in docker-compose.yml has a command line its own config parser accepts, Prometheus
// scrapes each one on the port it listens on, and the Grafana provisioning names the datasource
// the dashboards use. A renamed flag or a moved port fails here, not at `docker compose up`.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAgentConfig } from "@tessera/agent";
import { parseConsensusConfig } from "@tessera/consensus";
import { parseSchedulerConfig } from "@tessera/scheduler";
import { parseStorageManagerConfig } from "@tessera/storage-manager";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");
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
  if (main.includes("/consensus/")) {
    return Number(new URL(`http://${parseConsensusConfig(args, { env }).httpListen}`).port);
  }
  if (main.includes("/scheduler/")) {
    return parseSchedulerConfig(args, env, { instanceId: "x" }).http.port;
  }
  if (main.includes("/storage-manager/")) {
    return Number(parseStorageManagerConfig(args, env).http.split(":").pop());
  }
  if (main.includes("/agent/")) return parseAgentConfig(args, env, { nodeId: "x" }).http.port;
  throw new Error(`${main}: not a Tessera service entry point`);
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
