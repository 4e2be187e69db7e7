// Agent configuration: command-line flags over environment variables over defaults, every
// field validated with a message naming the flag and the reason. Pure: no I/O.
import {
  API_TLS_ENV,
  API_TLS_HELP,
  type ApiTlsFiles,
  type LogLevel,
  NATS_SECURITY_HELP,
  type NatsSecurity,
  parseApiTls,
  readServiceFlags,
  type ServiceFlags,
} from "@tessera/config";
import { STORAGE_SPEC_PATTERN } from "@tessera/storage";
import { AgentError, AgentErrorCode } from "./errors.js";
import type { ExecutionProviderChoice } from "./kernel/kernel-runner.js";

export interface AgentConfig {
  natsUrl: string;
  /** NATS credentials and TLS files (`--nats-creds` … `--nats-tls-key`). */
  natsSecurity: NatsSecurity;
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
  /**
   * Exact-mode maps in 8-bit integers where that is exact (kernel/int8-operands.ts); off: every
   * map in float32 (same results, about half the kernel speed on CPU).
   */
  int8: boolean;
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
  /**
   * Report completions straight to the consensus leader (and take over the armed reduces they
   * start) before falling back to TESSERA_CMD; see direct-reporter.ts.
   */
  directReports: boolean;
  /**
   * With direct reports: take the work a report would hand over before the report commits
   * (an early hand-over; the committed answer confirms or withdraws it).
   */
  earlyHandover: boolean;
  /** Where /healthz, /readyz and /metrics listen (port 0 = any free port). */
  http: { host: string; port: number };
  /** Serve those over HTTPS (`--api-tls-cert/-key`, as every Tessera HTTP endpoint can). */
  apiTls: ApiTlsFiles | undefined;
  logLevel: LogLevel;
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
  int8: "TESSERA_AGENT_INT8",
  threads: "TESSERA_AGENT_THREADS",
  "kernel-threads": "TESSERA_AGENT_KERNEL_THREADS",
  "tile-cache-mb": "TESSERA_AGENT_TILE_CACHE_MB",
  storage: "TESSERA_STORAGE",
  "ack-wait-ms": "TESSERA_ACK_WAIT_MS",
  "max-deliver": "TESSERA_MAX_DELIVER",
  replicas: "TESSERA_REPLICAS",
  "drain-grace-ms": "TESSERA_DRAIN_GRACE_MS",
  "heartbeat-ms": "TESSERA_HEARTBEAT_MS",
  http: "TESSERA_AGENT_HTTP",
  ...API_TLS_ENV,
  "direct-reports": "TESSERA_DIRECT_REPORTS",
  "early-handover": "TESSERA_EARLY_HANDOVER",
  "log-level": "TESSERA_LOG_LEVEL",
};

/** Switches (no value) and the environment variable each falls back to. */
const AGENT_SWITCHES: Readonly<Record<string, string>> = {
  standby: "TESSERA_STANDBY",
  "ship-logs": "TESSERA_SHIP_LOGS",
};

const TOKEN = {
  pattern: /^[A-Za-z0-9_-]{1,64}$/,
  what: "must be 1..64 characters of [A-Za-z0-9_-]",
};
const LABEL = {
  pattern: /^[A-Za-z0-9._-]{1,64}$/,
  what: "must be 1..64 characters of [A-Za-z0-9._-]",
};
const ON_OFF = { pattern: /^(on|off)$/, what: "must be on or off" };
const EP_CHOICES: readonly string[] = ["auto", "cuda", "cpu"];

/**
 * Parses argv (without node and script) and env into a validated AgentConfig.
 * `defaults.nodeId` lets the caller supply a host-derived id without this module reading it.
 */
export function parseAgentConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  defaults: { nodeId: string },
): AgentConfig {
  const f: ServiceFlags = readServiceFlags(
    argv,
    env,
    { values: AGENT_ENV, switches: AGENT_SWITCHES },
    (message) => new AgentError(AgentErrorCode.Config, message),
  );
  const ep = f.str("ep", "auto");
  if (!EP_CHOICES.includes(ep)) f.fail("ep", `${JSON.stringify(ep)} must be auto, cuda or cpu`);
  const storage = f.str("storage", undefined, {
    pattern: STORAGE_SPEC_PATTERN,
    what: "must be fs:<dir>, s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]",
  });
  const httpListen = f.str("http", "127.0.0.1:0");
  const httpMatch = /^(.+):(\d{1,5})$/.exec(httpListen);
  const httpPort = Number(httpMatch?.[2]);
  if (!httpMatch || httpPort > 65_535) {
    f.fail("http", `${JSON.stringify(httpListen)} must be HOST:PORT (port 0..65535)`);
  }

  return {
    natsUrl: f.natsUrls().join(","),
    natsSecurity: f.natsSecurity(),
    nodeId: f.str("node-id", defaults.nodeId, TOKEN),
    pool: f.str("pool", "cpu", TOKEN),
    cloud: f.str("cloud", "local", LABEL),
    region: f.str("region", "local", LABEL),
    zone: f.str("zone", "local-a", LABEL),
    slots: f.int("slots", 2, 1, 256),
    kernelThreads: f.int("kernel-threads", 1, 0, 256),
    ep: ep as ExecutionProviderChoice,
    int8: f.str("int8", "on", ON_OFF) === "on",
    threads: f.int("threads", 1, 1, 256),
    tileCacheMb: f.int("tile-cache-mb", 1024, 0, 1_048_576),
    storage,
    ackWaitMs: f.int("ack-wait-ms", 30_000, 1_000, 3_600_000),
    maxDeliver: f.int("max-deliver", 20, 1, 1000),
    replicas: f.int("replicas", 1, 1, 5),
    standby: f.on("standby"),
    shipLogs: f.on("ship-logs"),
    directReports: f.str("direct-reports", "on", ON_OFF) === "on",
    earlyHandover: f.str("early-handover", "on", ON_OFF) === "on",
    drainGraceMs: f.int("drain-grace-ms", 10_000, 0, 600_000),
    heartbeatIntervalMs: f.int("heartbeat-ms", 1_000, 50, 60_000),
    http: { host: httpMatch[1] as string, port: httpPort },
    apiTls: parseApiTls(f.raw, f.fail),
    logLevel: f.logLevel(),
  };
}

export const AGENT_USAGE = `usage: tessera-agent --storage fs:<dir>|s3:<bucket>[/<prefix>]|gcs:<bucket>[/<prefix>] [options]
  --nats URL[,URL…]      NATS servers (default nats://127.0.0.1:4222)      env TESSERA_NATS_URL
${NATS_SECURITY_HELP}
  --node-id ID           node id, [A-Za-z0-9_-]{1,64} (default: hostname-pid) env TESSERA_NODE_ID
  --pool NAME            work pool; pulls tessera.work.<pool>.> (default cpu) env TESSERA_POOL
  --cloud/--region/--zone  placement labels (default local/local/local-a)
  --slots N              work items in flight, so one's tile I/O overlaps another's kernel
                         (default 2)                                        env TESSERA_AGENT_SLOTS
  --ep auto|cuda|cpu     ONNX Runtime execution provider (default auto)   env TESSERA_EP
  --int8 on|off          exact-mode maps as exact 8-bit integer GEMMs where the job's element
                         bound allows (n ≥ 2622) and a start-up check passed; off: float32
                         (default on)                                       env TESSERA_AGENT_INT8
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
${API_TLS_HELP}
  --standby              warm standby: heartbeat (0 slots), pull nothing until promoted
  --ship-logs            also publish log lines to TESSERA_LOGS            env TESSERA_SHIP_LOGS=1
  --direct-reports on|off  report to the consensus leader directly and run the armed reduces it
                         hands back; TESSERA_CMD when it does not answer (default on)
                                                                           env TESSERA_DIRECT_REPORTS
  --early-handover on|off  with direct reports, start the reduce a report would hand over before
                         the report commits; the committed answer confirms or withdraws it
                         (default on)                                      env TESSERA_EARLY_HANDOVER
  --log-level LEVEL      trace|debug|info|warn|error|fatal|silent (default info)`;
