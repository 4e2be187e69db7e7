// Agent configuration: command-line flags over environment variables over defaults, every
// field validated with a message naming the flag and the reason. Pure: no I/O.
import { parseArgs } from "node:util";
import { switchSetting } from "@tessera/config";
import { AgentError, AgentErrorCode } from "./errors.js";
import type { ExecutionProviderChoice } from "./kernel/kernel-runner.js";

export interface AgentConfig {
  natsUrl: string;
  nodeId: string;
  pool: string;
  cloud: string;
  region: string;
  zone: string;
  /** Work items in flight at once: one's tile I/O overlaps another's kernel. */
  slots: number;
  /**
   * Worker threads running Map kernels (0 = on the JS thread, where onnxruntime-node blocks the
   * event loop for the whole kernel; see kernel/kernel-threads.ts). Default 1: an agent computes
   * on one core (times --threads) as before, and its slots overlap I/O with that kernel.
   */
  kernelThreads: number;
  ep: ExecutionProviderChoice;
  /** ORT intra-op threads per kernel. */
  threads: number;
  /** Memory for decoded input tiles shared by tasks (MiB; 0 = read every input every time). */
  tileCacheMb: number;
  /** `fs:<dir>`, `s3:<bucket>[/<prefix>]`, `gcs:<bucket>[/<prefix>]`. */
  storage: string;
  ackWaitMs: number;
  maxDeliver: number;
  /** JetStream replicas used when this agent has to provision the work stream/consumer. */
  replicas: number;
  /** Warm standby: up and heartbeating (offering 0 slots), pulls no work until promoted. */
  standby: boolean;
  /** How long SIGTERM waits for running work before releasing it (nak). */
  drainGraceMs: number;
  heartbeatIntervalMs: number;
  /** Also publish log lines to TESSERA_LOGS (`tessera logs` searches them). */
  shipLogs: boolean;
  /** Where /healthz, /readyz and /metrics listen (port 0 = any free port). */
  http: { host: string; port: number };
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
}

/** Flag name → environment variable consulted when the flag is absent. */
export const AGENT_ENV: Readonly<Record<string, string>> = {
  nats: "TESSERA_NATS_URL",
  "node-id": "TESSERA_NODE_ID",
  pool: "TESSERA_POOL",
  cloud: "TESSERA_CLOUD",
  region: "TESSERA_REGION",
  zone: "TESSERA_ZONE",
  slots: "TESSERA_AGENT_SLOTS",
  ep: "TESSERA_EP",
  threads: "TESSERA_AGENT_THREADS",
  "kernel-threads": "TESSERA_AGENT_KERNEL_THREADS",
  "tile-cache-mb": "TESSERA_AGENT_TILE_CACHE_MB",
  storage: "TESSERA_STORAGE",
  "ack-wait-ms": "TESSERA_ACK_WAIT_MS",
  "max-deliver": "TESSERA_MAX_DELIVER",
  replicas: "TESSERA_REPLICAS",
  standby: "TESSERA_STANDBY",
  "drain-grace-ms": "TESSERA_DRAIN_GRACE_MS",
  "heartbeat-ms": "TESSERA_HEARTBEAT_MS",
  http: "TESSERA_AGENT_HTTP",
  "ship-logs": "TESSERA_SHIP_LOGS",
  "log-level": "TESSERA_LOG_LEVEL",
};

const BOOLEAN_FLAGS = new Set(["standby", "ship-logs"]);
const STRING_FLAGS = Object.keys(AGENT_ENV).filter((f) => !BOOLEAN_FLAGS.has(f));
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const LABEL = /^[A-Za-z0-9._-]{1,64}$/;
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

function configError(flag: string, reason: string): AgentError {
  return new AgentError(AgentErrorCode.Config, `--${flag}: ${reason}`);
}

/**
 * Parses argv (without node and script) and env into a validated AgentConfig.
 * `defaults.nodeId` lets the caller supply a host-derived id without this module reading it.
 */
export function parseAgentConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  defaults: { nodeId: string },
): AgentConfig {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
        standby: { type: "boolean" },
        "ship-logs": { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new AgentError(AgentErrorCode.Config, `flags: ${(err as Error).message}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const raw = (flag: string): string | undefined => {
    const v = values[flag];
    if (typeof v === "string") return v;
    const envName = AGENT_ENV[flag];
    const e = envName ? env[envName] : undefined;
    return e === undefined || e === "" ? undefined : e;
  };
  const str = (flag: string, fallback: string | undefined, pattern?: RegExp, what?: string) => {
    const v = raw(flag) ?? fallback;
    if (v === undefined) throw configError(flag, `is required (or set ${AGENT_ENV[flag]})`);
    if (pattern && !pattern.test(v)) throw configError(flag, `${JSON.stringify(v)} ${what}`);
    return v;
  };
  const int = (flag: string, fallback: number, min: number, max: number) => {
    const v = raw(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw configError(flag, `${JSON.stringify(v)} must be an integer between ${min} and ${max}`);
    }
    return n;
  };

  const natsUrl = str("nats", "nats://127.0.0.1:4222");
  for (const url of natsUrl.split(",")) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s/]+$/.test(url) && !/^[^\s/:]+:\d+$/.test(url)) {
      throw configError(
        "nats",
        `${JSON.stringify(url)} must look like nats://host:port (comma-separated for several)`,
      );
    }
  }
  const ep = str("ep", "auto");
  if (ep !== "auto" && ep !== "cuda" && ep !== "cpu") {
    throw configError("ep", `${JSON.stringify(ep)} must be auto, cuda or cpu`);
  }
  const storage = str("storage", undefined);
  if (
    !/^(fs:.+|s3:[a-z0-9][a-z0-9.-]{1,62}(\/.*)?|gcs:[a-z0-9][a-z0-9._-]{1,221}(\/.*)?)$/.test(
      storage,
    )
  ) {
    throw configError(
      "storage",
      `${JSON.stringify(storage)} must be fs:<dir>, s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]`,
    );
  }
  const logLevel = str("log-level", "info");
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw configError(
      "log-level",
      `${JSON.stringify(logLevel)} must be one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  const bool = (flag: string) =>
    switchSetting(
      values[flag],
      AGENT_ENV[flag] ?? "",
      env,
      (reason) => new AgentError(AgentErrorCode.Config, reason),
    );
  const ackWaitMs = int("ack-wait-ms", 30_000, 1_000, 3_600_000);
  const httpListen = str("http", "127.0.0.1:0");
  const httpMatch = /^(.+):(\d{1,5})$/.exec(httpListen);
  const httpPort = Number(httpMatch?.[2]);
  if (!httpMatch || httpPort > 65_535) {
    throw configError("http", `${JSON.stringify(httpListen)} must be HOST:PORT (port 0..65535)`);
  }

  return {
    natsUrl,
    nodeId: str("node-id", defaults.nodeId, TOKEN, "must be 1..64 characters of [A-Za-z0-9_-]"),
    pool: str("pool", "cpu", TOKEN, "must be 1..64 characters of [A-Za-z0-9_-]"),
    cloud: str("cloud", "local", LABEL, "must be 1..64 characters of [A-Za-z0-9._-]"),
    region: str("region", "local", LABEL, "must be 1..64 characters of [A-Za-z0-9._-]"),
    zone: str("zone", "local-a", LABEL, "must be 1..64 characters of [A-Za-z0-9._-]"),
    slots: int("slots", 2, 1, 256),
    kernelThreads: int("kernel-threads", 1, 0, 256),
    ep,
    threads: int("threads", 1, 1, 256),
    tileCacheMb: int("tile-cache-mb", 1024, 0, 1_048_576),
    storage,
    ackWaitMs,
    maxDeliver: int("max-deliver", 20, 1, 1000),
    replicas: int("replicas", 1, 1, 5),
    standby: bool("standby"),
    shipLogs: bool("ship-logs"),
    drainGraceMs: int("drain-grace-ms", 10_000, 0, 600_000),
    heartbeatIntervalMs: int("heartbeat-ms", 1_000, 50, 60_000),
    http: { host: httpMatch[1] as string, port: httpPort },
    logLevel: logLevel as AgentConfig["logLevel"],
  };
}

export const AGENT_USAGE = `usage: tessera-agent --storage fs:<dir>|s3:<bucket>[/<prefix>]|gcs:<bucket>[/<prefix>] [options]
  --nats URL[,URL…]      NATS servers (default nats://127.0.0.1:4222)      env TESSERA_NATS_URL
  --node-id ID           node id, [A-Za-z0-9_-]{1,64} (default: hostname-pid) env TESSERA_NODE_ID
  --pool NAME            work pool; pulls tessera.work.<pool>.> (default cpu) env TESSERA_POOL
  --cloud/--region/--zone  placement labels (default local/local/local-a)
  --slots N              work items in flight, so one's tile I/O overlaps another's kernel
                         (default 2)                                        env TESSERA_AGENT_SLOTS
  --ep auto|cuda|cpu     ONNX Runtime execution provider (default auto)   env TESSERA_EP
  --threads N            ORT intra-op threads per kernel (default 1)       env TESSERA_AGENT_THREADS
  --kernel-threads N     worker threads running Map kernels, so a kernel never blocks the event
                         loop; 0 = on the JS thread (default 1)           env TESSERA_AGENT_KERNEL_THREADS
  --tile-cache-mb MB     memory for input tiles reused across tasks; 0 = off (default 1024)
                                                                           env TESSERA_AGENT_TILE_CACHE_MB
  --ack-wait-ms MS       consumer ack wait when provisioning (default 30000)
  --max-deliver N        consumer max deliveries when provisioning (default 20)
  --replicas N           stream/consumer replicas when provisioning (default 1)
  --drain-grace-ms MS    SIGTERM: time to finish running work before releasing it (default 10000)
  --heartbeat-ms MS      heartbeat period (default 1000)
  --http HOST:PORT       /healthz /readyz /metrics (default 127.0.0.1:0)   env TESSERA_AGENT_HTTP
  --standby              warm standby: heartbeat (0 slots), pull nothing until promoted
  --ship-logs            also publish log lines to TESSERA_LOGS            env TESSERA_SHIP_LOGS=1
  --log-level LEVEL      trace|debug|info|warn|error|fatal|silent (default info)`;
