// Each Tessera service's own config parser, for the deployment-file tests (Compose, Helm): a
// command line and environment from a deployment file go through exactly what the service runs
// at start, so a flag it would refuse, or a secured setting it would not see, fails a test.
import { parseAgentConfig } from "@tessera/agent";
import { parseConsensusConfig } from "@tessera/consensus";
import { parseSchedulerConfig } from "@tessera/scheduler";
import { parseStorageManagerConfig } from "@tessera/storage-manager";

export const TESSERA_SERVICES = ["consensus", "scheduler", "storage-manager", "agent"] as const;
export type TesseraService = (typeof TESSERA_SERVICES)[number];

export interface ParsedService {
  /** The service's config object (its parser's result). */
  readonly config: Readonly<Record<string, unknown>>;
  /** The port of its HTTP endpoints (`--http`). */
  readonly httpPort: number;
  /** Whether it serves them over HTTPS (`--api-tls-cert/-key`). */
  readonly https: boolean;
}

/** `services/<service>/dist/main.js` → the service; undefined for anything else. */
export function serviceOfMain(main: string): TesseraService | undefined {
  const name = /services\/([a-z-]+)\/dist\/main\.js$/.exec(main)?.[1];
  return (TESSERA_SERVICES as readonly string[]).includes(name ?? "")
    ? (name as TesseraService)
    : undefined;
}

/** Runs `service`'s parser on `argv` (after the entry script) and `env`; throws as it would. */
export function parseService(
  service: TesseraService,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): ParsedService {
  const args = [...argv];
  switch (service) {
    case "consensus": {
      const c = parseConsensusConfig(args, { env });
      const port = Number(new URL(`http://${c.httpListen}`).port);
      return { config: { ...c }, httpPort: port, https: c.apiTls !== undefined };
    }
    case "scheduler": {
      const c = parseSchedulerConfig(args, env, { instanceId: "x" });
      return { config: { ...c }, httpPort: c.http.port, https: c.apiTls !== undefined };
    }
    case "storage-manager": {
      const c = parseStorageManagerConfig(args, env);
      const port = Number(c.http.split(":").pop());
      return { config: { ...c }, httpPort: port, https: c.apiTls !== undefined };
    }
    case "agent": {
      const c = parseAgentConfig(args, env, { nodeId: "x" });
      return { config: { ...c }, httpPort: c.http.port, https: c.apiTls !== undefined };
    }
  }
}
