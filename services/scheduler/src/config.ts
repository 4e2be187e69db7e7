// Scheduler configuration: flags over environment variables over defaults, each validated with
// a message naming the flag. Pure: no I/O.
import {
  API_CA_ENV,
  API_CA_HELP,
  API_TLS_ENV,
  API_TLS_HELP,
  API_TOKEN_ENV,
  API_TOKEN_HELP,
  type ApiTlsFiles,
  CLUSTER_TLS_ENV,
  CLUSTER_TLS_HELP,
  type ClusterTlsFiles,
  type LogLevel,
  NATS_SECURITY_HELP,
  type NatsSecurity,
  parseApiTls,
  parseClusterTls,
  readServiceFlags,
  type ServiceFlags,
} from "@tessera/config";
import type { BreakerPolicy } from "./core/breaker.js";
import type { DeadlinePolicy } from "./core/deadlines.js";
import type { InputLocation, PlacementPolicyName } from "./core/placement.js";
import { PLACEMENT_POLICIES } from "./core/placement.js";
import type { PrefetchPolicy } from "./core/prefetch.js";
import type { RetryPolicy } from "./core/retry.js";
import { SchedulerError, SchedulerErrorCode } from "./errors.js";

/**
 * Upper bound of batch-max-tasks: a batch's CompletionBatchV1 (~0.4 KiB per item) must stay
 * under the manifest's 64 KiB command limit, which the leader applies to it.
 */
const MAX_BATCH_TASKS = 64;

export type { LogLevel };

export interface SchedulerConfig {
  /** Consensus peers: `http://host:port` (gRPC addresses discovered from /v1/cluster) or gRPC `host:port`. */
  consensus: string[];
  natsUrl: string[];
  /** NATS credentials and TLS files (`--nats-creds` … `--nats-tls-key`). */
  natsSecurity: NatsSecurity;
  /** The consensus peers' mutual TLS (`--cluster-tls-ca/-cert/-key`); undefined = plaintext. */
  clusterTls: ClusterTlsFiles | undefined;
  /** The consensus HTTP API's bearer token file (`--api-token-file`), for its /v1/cluster. */
  apiTokenFile: string | undefined;
  /** The CA of the peers' HTTPS certificate (`--api-ca`), for https:// `--consensus` URLs. */
  apiCaFile: string | undefined;
  /** Pools this scheduler places into (empty: every pool). */
  pools: string[];
  /** Identity for logs and the manifest client session prefix. */
  instanceId: string;
  http: { host: string; port: number };
  /** Serve /healthz /readyz /metrics over HTTPS (`--api-tls-cert/-key`). */
  apiTls: ApiTlsFiles | undefined;
  placement: PlacementPolicyName;
  dataLocation: InputLocation | undefined;
  cooldownMs: number;
  /** Attempts per node beyond its slots, queued ahead (hides the control-plane round trip). */
  prefetch: PrefetchPolicy;
  retry: RetryPolicy;
  deadlines: DeadlinePolicy;
  breaker: BreakerPolicy;
  maxStartsPerPass: number;
  /** Proposals in flight at once. */
  proposeConcurrency: number;
  /**
   * Most fresh starts of a job in mode "empty" proposed as one attempt-start-batch and published
   * as one WorkBatchV1 (services/scheduler/README.md); 1 turns the batched path off.
   */
  batchMaxTasks: number;
  /**
   * Arm a reduce (attempt-start whenReady) as soon as all its partials are running, so the
   * manifest starts it in the entry that completes the last one (services/scheduler/README.md).
   */
  armReduces: boolean;
  /** A node whose heartbeats stopped this long ago is treated as lost (0 = trust the manifest only). */
  heartbeatSilenceMs: number;
  /**
   * Expire an attempt the manifest binds to a live node whose heartbeats have not listed it this
   * long (a lost hand-over; 0 = never; core/planner.ts notHeld).
   */
  unlistedAfterMs: number;
  /** Safety-net re-plan period (events and timers drive it otherwise). */
  tickMs: number;
  /** Promote a warm-standby agent of the pool when an active node fails. */
  promoteStandby: boolean;
  /** JetStream replicas when this process has to provision the streams. */
  replicas: number;
  /** Also publish log lines to TESSERA_LOGS (`tessera logs` searches them). */
  shipLogs: boolean;
  logLevel: LogLevel;
}

export const SCHEDULER_ENV: Readonly<Record<string, string>> = {
  consensus: "TESSERA_CONSENSUS",
  nats: "TESSERA_NATS_URL",
  pool: "TESSERA_SCHEDULER_POOLS",
  id: "TESSERA_SCHEDULER_ID",
  http: "TESSERA_SCHEDULER_HTTP",
  placement: "TESSERA_PLACEMENT",
  "data-location": "TESSERA_DATA_LOCATION",
  "cooldown-ms": "TESSERA_NODE_COOLDOWN_MS",
  prefetch: "TESSERA_PREFETCH",
  "prefetch-window-ms": "TESSERA_PREFETCH_WINDOW_MS",
  "retry-base-ms": "TESSERA_RETRY_BASE_MS",
  "retry-max-ms": "TESSERA_RETRY_MAX_MS",
  "deadline-factor": "TESSERA_DEADLINE_FACTOR",
  "min-deadline-ms": "TESSERA_MIN_DEADLINE_MS",
  "initial-deadline-ms": "TESSERA_INITIAL_DEADLINE_MS",
  "speculation-factor": "TESSERA_SPECULATION_FACTOR",
  "min-samples": "TESSERA_MIN_SAMPLES",
  "breaker-threshold": "TESSERA_BREAKER_THRESHOLD",
  "breaker-window-ms": "TESSERA_BREAKER_WINDOW_MS",
  "breaker-cooldown-ms": "TESSERA_BREAKER_COOLDOWN_MS",
  "max-starts": "TESSERA_MAX_STARTS",
  "propose-concurrency": "TESSERA_PROPOSE_CONCURRENCY",
  "batch-max-tasks": "TESSERA_BATCH_MAX_TASKS",
  "arm-reduces": "TESSERA_ARM_REDUCES",
  "heartbeat-silence-ms": "TESSERA_HEARTBEAT_SILENCE_MS",
  "unlisted-after-ms": "TESSERA_UNLISTED_AFTER_MS",
  "tick-ms": "TESSERA_SCHEDULER_TICK_MS",
  "promote-standby": "TESSERA_PROMOTE_STANDBY",
  replicas: "TESSERA_REPLICAS",
  "log-level": "TESSERA_LOG_LEVEL",
  ...CLUSTER_TLS_ENV,
  "api-token-file": API_TOKEN_ENV,
  "api-ca": API_CA_ENV,
  ...API_TLS_ENV,
};

/** Boolean flags (no value) and the environment variable each falls back to ("1" / "true"). */
const BOOLEAN_ENV: Readonly<Record<string, string>> = {
  "ship-logs": "TESSERA_SHIP_LOGS",
};

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

export function parseSchedulerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  defaults: { instanceId: string },
): SchedulerConfig {
  const f: ServiceFlags = readServiceFlags(
    argv,
    env,
    { values: SCHEDULER_ENV, switches: BOOLEAN_ENV },
    (message) => new SchedulerError(SchedulerErrorCode.Config, message),
  );
  const { raw, int, num } = f;
  // Annotated (as f is): a never-returning call narrows only through explicitly typed names.
  const fail: ServiceFlags["fail"] = f.fail;

  const consensusRaw = raw("consensus");
  if (consensusRaw === undefined) {
    fail(
      "consensus",
      `is required: the consensus peers, e.g. http://127.0.0.1:8001,http://127.0.0.1:8002 (or set ${SCHEDULER_ENV.consensus})`,
    );
  }
  const consensus = consensusRaw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const c of consensus) {
    if (!/^https?:\/\/[^\s/]+\/?$/.test(c) && !/^(grpc:\/\/)?[^\s/:]+:\d{1,5}$/.test(c)) {
      fail(
        "consensus",
        `${JSON.stringify(c)} must be http://host:port (HTTP API) or host:port / grpc://host:port (gRPC)`,
      );
    }
  }
  if (consensus.length === 0) fail("consensus", "must name at least one peer");

  const natsUrl = f.natsUrls();
  const pools = (raw("pool") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const p of pools)
    if (!TOKEN.test(p))
      fail("pool", `${JSON.stringify(p)} must be 1..64 characters of [A-Za-z0-9_-]`);

  const instanceId = raw("id") ?? defaults.instanceId;
  if (!TOKEN.test(instanceId))
    fail("id", `${JSON.stringify(instanceId)} must be 1..64 characters of [A-Za-z0-9_-]`);

  const httpRaw = raw("http") ?? "127.0.0.1:0";
  const hm = /^([^\s:]+):(\d{1,5})$/.exec(httpRaw);
  if (!hm || Number(hm[2]) > 65535)
    fail("http", `${JSON.stringify(httpRaw)} must be host:port (port 0 = any free port)`);

  const placement = (raw("placement") ?? "capacity-weighted") as PlacementPolicyName;
  if (!PLACEMENT_POLICIES.includes(placement)) {
    fail(
      "placement",
      `${JSON.stringify(placement)} must be one of ${PLACEMENT_POLICIES.join(", ")}`,
    );
  }
  const locRaw = raw("data-location");
  let dataLocation: InputLocation | undefined;
  if (locRaw !== undefined) {
    const m = /^([A-Za-z0-9._-]{1,64})\/([A-Za-z0-9._-]{1,64})$/.exec(locRaw);
    if (!m)
      fail(
        "data-location",
        `${JSON.stringify(locRaw)} must be <cloud>/<region>, e.g. aws/us-east-1`,
      );
    dataLocation = { cloud: m[1] as string, region: m[2] as string };
  }
  const logLevel = f.logLevel();

  const retryBase = int("retry-base-ms", 500, 0, 3_600_000);
  const retryMax = int("retry-max-ms", 30_000, 0, 3_600_000);
  if (retryMax < retryBase) fail("retry-max-ms", `must be >= --retry-base-ms (${retryBase})`);
  const minDeadline = int("min-deadline-ms", 10_000, 1, 86_400_000);
  const initialDeadline = int("initial-deadline-ms", 300_000, 1, 86_400_000);
  const deadlineFactor = num("deadline-factor", 4, 1, 1000);
  const speculationFactor = num("speculation-factor", 1.5, 0, 1000);
  if (speculationFactor > 0 && speculationFactor >= deadlineFactor) {
    fail(
      "speculation-factor",
      `must be below --deadline-factor (${deadlineFactor}), or 0 to disable speculation`,
    );
  }
  const breakerCooldown = int("breaker-cooldown-ms", 5_000, 1, 3_600_000);
  let prefetch: PrefetchPolicy = { windowMs: int("prefetch-window-ms", 50, 1, 60_000) };
  if ((raw("prefetch") ?? "auto") !== "auto") {
    if (raw("prefetch-window-ms") !== undefined)
      fail("prefetch-window-ms", "applies only with --prefetch auto");
    if (!/^\d+$/.test(raw("prefetch") ?? ""))
      fail("prefetch", `${JSON.stringify(raw("prefetch"))} must be auto or an integer 0..1024`);
    prefetch = { fixed: int("prefetch", 1, 0, 1024) };
  }

  const onOff = (name: string): boolean => {
    const v = raw(name) ?? "on";
    if (v !== "on" && v !== "off") fail(name, `${JSON.stringify(v)} must be on or off`);
    return v === "on";
  };

  return {
    consensus,
    natsUrl,
    natsSecurity: f.natsSecurity(),
    clusterTls: parseClusterTls(raw, fail),
    apiTokenFile: raw("api-token-file"),
    apiCaFile: raw("api-ca"),
    pools,
    instanceId,
    http: { host: hm[1] as string, port: Number(hm[2]) },
    apiTls: parseApiTls(raw, fail),
    placement,
    dataLocation,
    cooldownMs: int("cooldown-ms", 30_000, 0, 86_400_000),
    prefetch,
    retry: { baseMs: retryBase, maxMs: retryMax, factor: 2 },
    deadlines: {
      minSamples: int("min-samples", 3, 1, 100_000),
      deadlineFactor,
      minDeadlineMs: minDeadline,
      initialDeadlineMs: initialDeadline,
      speculationFactor,
      minSpeculationMs: 1_000,
    },
    breaker: {
      threshold: int("breaker-threshold", 5, 1, 100_000),
      windowMs: int("breaker-window-ms", 30_000, 1, 86_400_000),
      cooldownMs: breakerCooldown,
      maxCooldownMs: Math.max(breakerCooldown, 60_000),
    },
    maxStartsPerPass: int("max-starts", 256, 1, 100_000),
    proposeConcurrency: int("propose-concurrency", 16, 1, 1024),
    batchMaxTasks: int("batch-max-tasks", 64, 1, MAX_BATCH_TASKS),
    armReduces: onOff("arm-reduces"),
    heartbeatSilenceMs: int("heartbeat-silence-ms", 0, 0, 3_600_000),
    unlistedAfterMs: int("unlisted-after-ms", 8_000, 0, 3_600_000),
    tickMs: int("tick-ms", 1_000, 10, 60_000),
    promoteStandby: onOff("promote-standby"),
    replicas: int("replicas", 1, 1, 5),
    shipLogs: f.on("ship-logs"),
    logLevel,
  };
}

export const SCHEDULER_USAGE = `usage: tessera-scheduler --consensus URL[,URL…] [options]
  --consensus URLS         consensus peers: http://host:port (HTTP API; gRPC found via /v1/cluster)
                           or host:port / grpc://host:port (gRPC)             env TESSERA_CONSENSUS
  --nats URL[,URL…]        NATS servers (default nats://127.0.0.1:4222)       env TESSERA_NATS_URL
${NATS_SECURITY_HELP}
${CLUSTER_TLS_HELP}
${API_TOKEN_HELP}
${API_CA_HELP}
  --pool P[,P…]            pools to place into (default: every pool agents announce)
  --id ID                  instance id for logs / manifest session (default: scheduler-<pid>)
  --http HOST:PORT         /healthz /readyz /metrics (default 127.0.0.1:0)
${API_TLS_HELP}
 placement
  --placement POLICY       least-loaded | capacity-weighted | locality (default capacity-weighted)
  --data-location C/R      cloud/region holding the input datasets (locality for maps)
  --cooldown-ms MS         avoid a node this long after it failed (default 30000)
  --prefetch N|auto        attempts queued per node beyond its slots (0 = none); auto (default)
                           keeps ceil(slots × window ÷ agents' p75 run time) queued, 1..4
  --prefetch-window-ms MS  the control-plane round trip auto's queue covers (default 50);
                           across clouds ≈ 2 × peer RTT
 retries, deadlines, speculation
  --retry-base-ms MS       backoff after the first failure, doubling (default 500)
  --retry-max-ms MS        backoff cap (default 30000)
  --deadline-factor F      expire attempts running > F × p75 of completed siblings (default 4)
  --min-deadline-ms MS     deadline floor (default 10000)
  --initial-deadline-ms MS deadline before --min-samples siblings completed (default 300000)
  --speculation-factor F   speculative attempt when running > F × p75 (default 1.5; 0 = off)
  --min-samples N          completed siblings needed to learn p75 (default 3)
 storage circuit breaker
  --breaker-threshold N    storage failures that open it (default 5)
  --breaker-window-ms MS   ... within this window (default 30000)
  --breaker-cooldown-ms MS open period before one probe attempt (default 5000; doubles per failed probe)
 misc
  --max-starts N           attempt-starts per planning pass (default 256)
  --propose-concurrency N  proposals in flight (default 16)
  --batch-max-tasks N      fresh starts of an empty-mode job per attempt-start-batch and work
                           message (default 64, at most 64; 1 = one message per task)
  --arm-reduces on|off     arm a reduce once all its partials run: the manifest starts it with the
                           completion of the last one, no second commit on the hop (default on)
  --heartbeat-silence-ms MS treat a node silent this long as lost (default 0: the manifest decides)
  --unlisted-after-ms MS   expire an attempt the manifest binds to a live node whose heartbeats
                           have not listed it this long: a lost hand-over (default 8000; 0 = never)
  --promote-standby on|off when an active node fails, promote a warm-standby agent of its pool
                           (nearest first; default on)
  --tick-ms MS             re-plan period besides events and timers (default 1000)
  --replicas N             JetStream replicas if streams must be provisioned (default 1)
  --ship-logs              also publish log lines to TESSERA_LOGS             env TESSERA_SHIP_LOGS=1
  --log-level LEVEL        trace|debug|info|warn|error|fatal|silent (default info)`;
