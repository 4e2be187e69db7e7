// Consensus peer configuration: command-line flags over a JSON config file over defaults, every
// field validated with a message naming the flag (or file field) and the reason. Pure: the only
// I/O is reading the file named by --config, through the injected `readFile`.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  API_TLS_ENV,
  API_TLS_HELP,
  API_TOKEN_ENV,
  API_TOKEN_HELP,
  type ApiTlsFiles,
  apiScheme,
  CLUSTER_TLS_ENV,
  CLUSTER_TLS_HELP,
  type ClusterTlsFiles,
  flagToCamel,
  LOG_LEVELS,
  type LogLevel,
  NATS_SECURITY_ENV,
  NATS_SECURITY_HELP,
  type NatsSecurity,
  parseApiTls,
  parseClusterTls,
  parseNatsSecurity,
} from "@tessera/config";
import { BASE_FEATURE_LEVEL, MANIFEST_FEATURE_LEVEL } from "@tessera/protocol";
import { ServiceError, ServiceErrorCode } from "./api/errors.js";

/** Per-link network fault injection (applied by the peer transport to outgoing messages). */
export interface LinkFaults {
  /** One-way delay added to every message, ms. */
  readonly delayMs: number;
  /** Uniform random extra delay in [-jitterMs, +jitterMs], ms (never reorders a link). */
  readonly jitterMs: number;
  /** Probability in [0, 1] that a message is dropped (1 = partitioned link). */
  readonly lossRate: number;
}

export interface PeerConfig {
  readonly id: number;
  /** host:port of the peer's gRPC server (Raft + Manifest services). */
  readonly grpc: string;
  /** http(s)://host:port of its HTTP API (for follower redirects). */
  readonly http: string;
}

export type LogLevelName = LogLevel;

export interface RaftTuning {
  /** Milliseconds per Raft tick (undefined: the peer's default). */
  readonly tickMs?: number | undefined;
  readonly electionTicks?: number | undefined;
  readonly heartbeatTicks?: number | undefined;
  /** Applied entries between FSM snapshots (undefined: the peer's default). */
  readonly snapshotEntries?: number | undefined;
  /** Entries kept in the log behind a snapshot, for slow followers (undefined: default). */
  readonly snapshotKeep?: number | undefined;
}

export interface ConsensusConfig {
  readonly id: number;
  /** Initial voters (including this peer, unless --join). */
  readonly peers: readonly PeerConfig[];
  readonly dataDir: string;
  /** host:port the gRPC server binds. */
  readonly grpcListen: string;
  /** host:port the HTTP API binds. */
  readonly httpListen: string;
  /** This peer's public addresses, as other peers and clients reach it. */
  readonly self: PeerConfig;
  /** NATS servers; undefined = no JetStream ingestion, no events, no heartbeats. */
  readonly natsServers: readonly string[] | undefined;
  /** NATS credentials and TLS files (`--nats-creds` … `--nats-tls-key`). */
  readonly natsSecurity: NatsSecurity;
  /** Mutual TLS on the gRPC port (`--cluster-tls-ca/-cert/-key`); undefined = plaintext. */
  readonly clusterTls: ClusterTlsFiles | undefined;
  /** The HTTP API's bearer token file (`--api-token-file`); undefined = an open API. */
  readonly apiTokenFile: string | undefined;
  /** HTTPS on the HTTP API (`--api-tls-cert/-key`); undefined = plain HTTP. */
  readonly apiTls: ApiTlsFiles | undefined;
  /** Start as a new member with an empty log: wait to be added by the leader (POST /admin/peers). */
  readonly join: boolean;
  readonly logLevel: LogLevelName;
  /** Also ship log lines to TESSERA_LOGS (needs --nats). */
  readonly shipLogs: boolean;
  /** JetStream replicas used when this peer provisions the streams. */
  readonly replicas: number;
  readonly raft: RaftTuning;
  /** Fault injection at start: `default` for every link, `links[peerId]` overrides. */
  readonly faults: {
    readonly default: LinkFaults | undefined;
    readonly links: Readonly<Record<number, LinkFaults>>;
  };
  readonly ingest: {
    /** Most JetStream commands proposed in one Raft batch. */
    readonly batchSize: number;
    /** Ack wait of the durable consumer: how soon a dead leader's in-flight commands return. */
    readonly ackWaitMs: number;
    readonly durable: string;
  };
  /** Event batches kept in memory per peer for re-publishing and Watch. */
  readonly eventRing: number;
  /** SIGTERM: how long to wait for leadership transfer and in-flight work. */
  readonly shutdownGraceMs: number;
  /** The agents' heartbeat period; the failure detector is scaled to it. */
  readonly heartbeatIntervalMs: number;
  /**
   * The highest manifest feature level this peer advertises and can apply (libs/protocol
   * feature-levels.ts); default the newest this build knows.
   */
  readonly featureLevel: number;
}

export const CONSENSUS_USAGE = `usage: tessera-consensus --id N --peers 1=host:port,2=host:port,... --data DIR [options]
  --id N                 this peer's id (positive integer, one of --peers unless --join)
  --peers LIST           initial voters: id=host:port (gRPC) comma-separated
  --peers-http LIST      id=host:port of each peer's HTTP API (default: gRPC port + 1000)
  --data DIR             data directory (Raft log, snapshots)
  --grpc HOST:PORT       gRPC bind address (default: this peer's entry in --peers)
  --http HOST:PORT       HTTP bind address (default: gRPC host, port + 1000)
  --nats URL[,URL...]    NATS servers; without it: no JetStream ingestion, events or heartbeats
${NATS_SECURITY_HELP}
${CLUSTER_TLS_HELP}
${API_TOKEN_HELP}
${API_TLS_HELP}
                           (every peer of a cluster alike: peers' URLs are then https://)
  --join                 start empty and wait to be added (POST /admin/peers on the leader)
  --config FILE          JSON file with the same settings (flags win), see README
  --log-level LEVEL      trace|debug|info|warn|error|fatal|silent (default info)
  --ship-logs            also ship logs to TESSERA_LOGS (needs --nats)
  --replicas N           JetStream stream replicas when provisioning (default 1)
  --tick-ms MS           Raft tick (default: peer default)
  --election-ticks N     election timeout in ticks (default: peer default)
  --heartbeat-ticks N    heartbeat interval in ticks (default: peer default)
  --snapshot-entries N   applied entries between snapshots (default: peer default)
  --snapshot-keep N      log entries kept behind a snapshot for lagging followers (default 2000)
  --fault-delay-ms MS    injected one-way delay on every outgoing peer link (default 0)
  --fault-jitter-ms MS   injected jitter (default 0)
  --fault-loss P         injected loss probability 0..1 (default 0)
  --ingest-batch N       JetStream commands per Raft batch (default 256)
  --ack-wait-ms MS       ingestion consumer ack wait (default 5000)
  --event-ring N         event batches kept per peer for re-publish / Watch (default 10000)
  --shutdown-grace-ms MS SIGTERM grace (default 5000)
  --heartbeat-ms MS      agents' heartbeat period; failure detection scales with it (default 1000;
                         env TESSERA_HEARTBEAT_MS, as the agents read it)
  --feature-level N      highest manifest feature level this peer advertises and applies, 1..${MANIFEST_FEATURE_LEVEL}
                         (default ${MANIFEST_FEATURE_LEVEL}); a lower one holds the cluster at it during a rolling
                         upgrade you may still roll back`;

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;
const NATS_URL = /^(nats|tls|ws|wss):\/\/[^\s/]+$/;

/** Flags that take a value; boolean flags are listed separately. */
const STRING_FLAGS = [
  "id",
  "peers",
  "peers-http",
  "data",
  "grpc",
  "http",
  "nats",
  "config",
  "log-level",
  "replicas",
  "tick-ms",
  "election-ticks",
  "heartbeat-ticks",
  "snapshot-entries",
  "snapshot-keep",
  "fault-delay-ms",
  "fault-jitter-ms",
  "fault-loss",
  "ingest-batch",
  "ack-wait-ms",
  "event-ring",
  "shutdown-grace-ms",
  "heartbeat-ms",
  "feature-level",
  ...Object.keys(NATS_SECURITY_ENV),
  ...Object.keys(CLUSTER_TLS_ENV),
  "api-token-file",
  ...Object.keys(API_TLS_ENV),
] as const;
const BOOLEAN_FLAGS = ["join", "ship-logs", "help"] as const;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function fail(field: string, reason: string): never {
  throw new ServiceError(ServiceErrorCode.Config, `${field}: ${reason}`);
}

/** A value together with the name a user would look for (`--peers` or `cfg.json: /peers`). */
interface Raw {
  readonly value: unknown;
  readonly field: string;
}

export interface ParseOptions {
  /** Reads --config files (tests inject; default fs.readFileSync). */
  readFile?: (path: string) => string;
  env?: Readonly<Record<string, string | undefined>>;
}

/** Parses argv (without node and script) into a validated config; throws ServiceError(Config). */
export function parseConsensusConfig(
  argv: readonly string[],
  options: ParseOptions = {},
): ConsensusConfig {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
        ...Object.fromEntries(BOOLEAN_FLAGS.map((f) => [f, { type: "boolean" as const }])),
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    return fail("flags", (err as Error).message);
  }
  const flags = parsed.values as Record<string, string | boolean | undefined>;
  const env = options.env ?? {};
  const configFile = typeof flags.config === "string" ? flags.config : env.TESSERA_CONSENSUS_CONFIG;
  const file = configFile ? readConfigFile(configFile, options.readFile) : {};

  /** Flag first, then `filePath` in the config file (a JSON pointer below the root). */
  const get = (flag: string, filePath: string): Raw | undefined => {
    const v = flags[flag];
    if (v !== undefined) return { value: v, field: `--${flag}` };
    let cur: unknown = file;
    for (const part of filePath.split("/").slice(1)) {
      if (!isObject(cur) || !(part in cur)) return undefined;
      cur = cur[part];
    }
    return { value: cur, field: `${configFile}: ${filePath}` };
  };

  const idRaw =
    get("id", "/id") ??
    (env.TESSERA_CONSENSUS_ID
      ? { value: env.TESSERA_CONSENSUS_ID, field: "TESSERA_CONSENSUS_ID" }
      : undefined);
  if (!idRaw) fail("--id", "is required");
  const id = intOf(idRaw, 1, 2 ** 31 - 1);

  const join = flags.join === true || boolOf(get("join", "/join"), false);
  const peersRaw = get("peers", "/peers");
  if (!peersRaw)
    fail("--peers", "is required (e.g. 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003)");
  const grpcPeers = peerMapOf(peersRaw);
  const httpRaw = get("peers-http", "/peersHttp");
  const httpPeers = httpRaw ? peerMapOf(httpRaw) : new Map<number, string>();

  const grpcListenRaw = get("grpc", "/grpc");
  const grpcListen = grpcListenRaw
    ? hostPortOf(grpcListenRaw)
    : (grpcPeers.get(id) ??
      fail(
        "--grpc",
        `is required when --peers has no entry for --id ${id} (a --join peer names its own address)`,
      ));
  if (!join && !grpcPeers.has(id)) {
    fail("--peers", `has no entry for --id ${id}; list every initial voter, or start with --join`);
  }
  const httpListenRaw = get("http", "/http");
  const httpListen = httpListenRaw ? hostPortOf(httpListenRaw) : plus1000(grpcListen, "--grpc");

  // Flag, else the config file's camelCase key (`/natsTlsCa` for --nats-tls-ca), else the
  // environment variable every service reads.
  const shared = (envNames: Readonly<Record<string, string>>) => (flag: string) => {
    const r = get(flag, `/${flagToCamel(flag)}`) ?? envRaw(env, envNames[flag] ?? "");
    return r ? stringOf(r) : undefined;
  };
  const flagFail = (flag: string, reason: string) => fail(`--${flag}`, reason);
  const apiTls = parseApiTls(shared(API_TLS_ENV), flagFail);
  // A cluster's peers serve their API alike, so every peer's URL takes this peer's scheme.
  const scheme = apiScheme(apiTls);

  const peers: PeerConfig[] = [...grpcPeers].map(([pid, grpc]) => ({
    id: pid,
    grpc,
    http: `${scheme}://${
      pid === id && !httpPeers.has(pid)
        ? httpListen
        : (httpPeers.get(pid) ?? plus1000(grpc, "--peers"))
    }`,
  }));
  const selfGrpc = grpcPeers.get(id) ?? grpcListen;
  const self: PeerConfig = {
    id,
    grpc: selfGrpc,
    http: `${scheme}://${httpPeers.get(id) ?? httpListen}`,
  };

  const dataRaw = get("data", "/data");
  if (!dataRaw) fail("--data", "is required (the directory for the Raft log and snapshots)");
  const dataDir = stringOf(dataRaw);

  const natsRaw = get("nats", "/nats") ?? envRaw(env, "TESSERA_NATS_URL");
  let natsServers: string[] | undefined;
  if (natsRaw) {
    const list = Array.isArray(natsRaw.value)
      ? natsRaw.value.map((v) => stringOf({ value: v, field: natsRaw.field }))
      : stringOf(natsRaw)
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
    for (const url of list) {
      if (!NATS_URL.test(url) && !HOST_PORT.test(url)) {
        fail(natsRaw.field, `${JSON.stringify(url)} must look like nats://host:port`);
      }
    }
    if (list.length > 0) natsServers = list;
  }

  const natsSecurity = parseNatsSecurity(shared(NATS_SECURITY_ENV), flagFail);
  const clusterTls = parseClusterTls(shared(CLUSTER_TLS_ENV), flagFail);
  const apiTokenFile = shared({ "api-token-file": API_TOKEN_ENV })("api-token-file");

  const logLevelRaw = get("log-level", "/logLevel") ?? envRaw(env, "TESSERA_LOG_LEVEL");
  const logLevel = logLevelRaw ? stringOf(logLevelRaw) : "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    fail(
      logLevelRaw?.field ?? "--log-level",
      `${JSON.stringify(logLevel)} must be one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  const shipLogs = flags["ship-logs"] === true || boolOf(get("ship-logs", "/shipLogs"), false);
  if (shipLogs && !natsServers) fail("--ship-logs", "needs --nats");

  const optInt = (flag: string, path: string, min: number, max: number) => {
    const r = get(flag, path);
    return r ? intOf(r, min, max) : undefined;
  };
  const raft: RaftTuning = {
    tickMs: optInt("tick-ms", "/raft/tickMs", 1, 10_000),
    electionTicks: optInt("election-ticks", "/raft/electionTicks", 2, 10_000),
    heartbeatTicks: optInt("heartbeat-ticks", "/raft/heartbeatTicks", 1, 10_000),
    snapshotEntries: optInt("snapshot-entries", "/raft/snapshotEntries", 1, 1_000_000_000),
    snapshotKeep: optInt("snapshot-keep", "/raft/snapshotKeep", 0, 1_000_000_000),
  };
  if (
    raft.electionTicks !== undefined &&
    raft.heartbeatTicks !== undefined &&
    raft.heartbeatTicks >= raft.electionTicks
  ) {
    fail("--heartbeat-ticks", `must be below --election-ticks (${raft.electionTicks})`);
  }

  const faultDefault = faultsFromFlags(get);
  const linksRaw = get("fault-links", "/faults/links");
  const links: Record<number, LinkFaults> = {};
  if (linksRaw) {
    if (!isObject(linksRaw.value)) fail(linksRaw.field, "must be an object keyed by peer id");
    for (const [k, v] of Object.entries(linksRaw.value)) {
      const field = `${linksRaw.field}/${k}`;
      const pid = intOf({ value: k, field: `${field} (key)` }, 1, 2 ** 31 - 1);
      links[pid] = linkFaultsOf({ value: v, field });
    }
  }

  return {
    id,
    peers,
    dataDir,
    grpcListen,
    httpListen,
    self,
    natsServers,
    natsSecurity,
    clusterTls,
    apiTokenFile,
    apiTls,
    join,
    logLevel: logLevel as LogLevelName,
    shipLogs,
    replicas: optInt("replicas", "/replicas", 1, 5) ?? 1,
    raft,
    faults: { default: faultDefault, links },
    ingest: {
      batchSize: optInt("ingest-batch", "/ingest/batchSize", 1, 10_000) ?? 256,
      ackWaitMs: optInt("ack-wait-ms", "/ingest/ackWaitMs", 1_000, 3_600_000) ?? 5_000,
      durable: "consensus",
    },
    eventRing: optInt("event-ring", "/eventRing", 16, 10_000_000) ?? 10_000,
    shutdownGraceMs: optInt("shutdown-grace-ms", "/shutdownGraceMs", 0, 600_000) ?? 5_000,
    heartbeatIntervalMs: heartbeatMs(
      get("heartbeat-ms", "/heartbeatMs") ?? envRaw(env, "TESSERA_HEARTBEAT_MS"),
    ),
    featureLevel:
      optInt("feature-level", "/featureLevel", BASE_FEATURE_LEVEL, MANIFEST_FEATURE_LEVEL) ??
      MANIFEST_FEATURE_LEVEL,
  };
}

/** Validates one LinkFaults object (as accepted by PUT /admin/faults and the config file). */
export function linkFaultsOf(raw: Raw): LinkFaults {
  if (!isObject(raw.value)) fail(raw.field, "must be an object {delayMs, jitterMs, lossRate}");
  for (const k of Object.keys(raw.value)) {
    if (k !== "delayMs" && k !== "jitterMs" && k !== "lossRate") {
      fail(`${raw.field}/${k}`, "is not an allowed field (delayMs, jitterMs, lossRate)");
    }
  }
  const num = (k: "delayMs" | "jitterMs" | "lossRate", max: number): number => {
    const v = raw.value as Json;
    if (v[k] === undefined) return 0;
    return numberOf({ value: v[k], field: `${raw.field}/${k}` }, 0, max);
  };
  return {
    delayMs: num("delayMs", 60_000),
    jitterMs: num("jitterMs", 60_000),
    lossRate: num("lossRate", 1),
  };
}

function faultsFromFlags(
  get: (flag: string, path: string) => Raw | undefined,
): LinkFaults | undefined {
  const d = get("fault-delay-ms", "/faults/delayMs");
  const j = get("fault-jitter-ms", "/faults/jitterMs");
  const l = get("fault-loss", "/faults/lossRate");
  if (!d && !j && !l) return undefined;
  return {
    delayMs: d ? numberOf(d, 0, 60_000) : 0,
    jitterMs: j ? numberOf(j, 0, 60_000) : 0,
    lossRate: l ? numberOf(l, 0, 1) : 0,
  };
}

function readConfigFile(path: string, reader?: (p: string) => string): Json {
  let text: string;
  try {
    text = (reader ?? ((p: string) => readFileSync(p, "utf8")))(path);
  } catch (err) {
    return fail(
      `--config ${path}`,
      `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(`--config ${path}`, `is not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) return fail(`--config ${path}`, "must contain a JSON object");
  const known = new Set([
    "id",
    "peers",
    "peersHttp",
    "data",
    "grpc",
    "http",
    "nats",
    "join",
    "logLevel",
    "shipLogs",
    "replicas",
    "raft",
    "faults",
    "ingest",
    "eventRing",
    "shutdownGraceMs",
    "heartbeatMs",
    "featureLevel",
    ...Object.keys(NATS_SECURITY_ENV).map(flagToCamel),
    ...Object.keys(CLUSTER_TLS_ENV).map(flagToCamel),
    "apiTokenFile",
    ...Object.keys(API_TLS_ENV).map(flagToCamel),
  ]);
  for (const k of Object.keys(parsed)) {
    if (!known.has(k)) fail(`${path}: /${k}`, "is not a known setting");
  }
  return parsed;
}

/** The agents' heartbeat period (the agents read the same TESSERA_HEARTBEAT_MS). */
function heartbeatMs(raw: Raw | undefined): number {
  return raw ? intOf(raw, 10, 60_000) : 1_000;
}

function envRaw(env: Readonly<Record<string, string | undefined>>, name: string): Raw | undefined {
  const v = env[name];
  return v === undefined || v === "" ? undefined : { value: v, field: name };
}

function stringOf(raw: Raw): string {
  if (typeof raw.value !== "string" || raw.value.length === 0)
    fail(raw.field, "must be a non-empty string");
  return raw.value;
}

/** A JSON number, or a flag / environment string spelling one; NaN otherwise. */
function toNumber(raw: Raw): number {
  if (typeof raw.value === "number") return raw.value;
  return typeof raw.value === "string" && raw.value.trim() !== "" ? Number(raw.value) : Number.NaN;
}

function numberOf(raw: Raw, min: number, max: number): number {
  const n = toNumber(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    fail(raw.field, `${JSON.stringify(raw.value)} must be a number between ${min} and ${max}`);
  }
  return n;
}

function intOf(raw: Raw, min: number, max: number): number {
  const n = toNumber(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    fail(raw.field, `${JSON.stringify(raw.value)} must be an integer between ${min} and ${max}`);
  }
  return n;
}

function boolOf(raw: Raw | undefined, fallback: boolean): boolean {
  if (!raw) return fallback;
  if (typeof raw.value === "boolean") return raw.value;
  if (raw.value === "true" || raw.value === "1") return true;
  if (raw.value === "false" || raw.value === "0") return false;
  return fail(raw.field, `${JSON.stringify(raw.value)} must be true or false`);
}

function hostPortOf(raw: Raw): string {
  const s = stringOf(raw);
  const m = HOST_PORT.exec(s);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) fail(raw.field, `${JSON.stringify(s)} must be host:port`);
  return s;
}

/** `1=h:p,2=h:p` (or, in a file, an object {"1":"h:p"} / array [{id, grpc}]) → id → host:port. */
function peerMapOf(raw: Raw): Map<number, string> {
  const out = new Map<number, string>();
  const add = (idValue: unknown, addr: unknown, field: string) => {
    const pid = intOf({ value: idValue, field: `${field} (peer id)` }, 1, 2 ** 31 - 1);
    if (out.has(pid)) fail(field, `peer ${pid} is listed twice`);
    out.set(pid, hostPortOf({ value: addr, field }));
  };
  if (typeof raw.value === "string") {
    for (const part of raw.value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const eq = part.indexOf("=");
      if (eq <= 0) fail(raw.field, `${JSON.stringify(part)} must be id=host:port`);
      add(part.slice(0, eq), part.slice(eq + 1), raw.field);
    }
  } else if (Array.isArray(raw.value)) {
    raw.value.forEach((p, i) => {
      const field = `${raw.field}/${i}`;
      if (!isObject(p)) fail(field, "must be an object {id, grpc}");
      add(p.id, p.grpc, field);
    });
  } else if (isObject(raw.value)) {
    for (const [k, v] of Object.entries(raw.value)) add(k, v, `${raw.field}/${k}`);
  } else {
    fail(raw.field, "must be id=host:port,... (or an object / array in a config file)");
  }
  if (out.size === 0) fail(raw.field, "must list at least one peer");
  return out;
}

/** Default HTTP address: same host, port + 1000 (7001 → 8001). */
function plus1000(hostPort: string, field: string): string {
  const m = HOST_PORT.exec(hostPort);
  const port = Number(m?.[2]) + 1000;
  if (!m || port > 65535)
    fail(field, `cannot derive an HTTP port from ${hostPort}; pass --http / --peers-http`);
  return `${m[1]}:${port}`;
}
