// Storage-manager configuration: flags over environment variables over defaults, every field
// validated with a message naming the flag and the reason. Pure: no I/O.
import {
  API_TLS_ENV,
  API_TLS_HELP,
  API_TOKEN_ENV,
  API_TOKEN_FLAG,
  type ApiTlsFiles,
  type LogLevel,
  NATS_SECURITY_HELP,
  type NatsSecurity,
  parseApiTls,
  readServiceFlags,
  type ServiceFlags,
} from "@tessera/config";
import { STORAGE_SPEC_PATTERN } from "@tessera/storage";
import { StorageManagerError, StorageManagerErrorCode } from "./errors.js";

export type CheckMode = "full" | "head";
export type LogLevelSetting = LogLevel;

export interface StorageManagerConfig {
  natsUrl: string;
  /** NATS credentials and TLS files (`--nats-creds` … `--nats-tls-key`). */
  natsSecurity: NatsSecurity;
  /** `fs:<dir>`, `s3:<bucket>[/<prefix>]`, `gcs:<bucket>[/<prefix>]`. */
  storage: string;
  /** host:port of /healthz /readyz /metrics and the outputs API (port 0 = any free port). */
  http: string;
  /** Serve that HTTP API over HTTPS (`--api-tls-cert/-key`, as the consensus peers do). */
  apiTls: ApiTlsFiles | undefined;
  /** The outputs API (/v1/…) answers only requests bearing this file's token. */
  apiTokenFile: string | undefined;
  nodeId: string;
  /**
   * head: exists, size and recorded checksum. full: also a CRC-verified read of every byte.
   * Head is enough for correctness: every output is read, CRC-verified, by its consumer (a
   * reduce reads its partials, verification reads every output tile) and a mismatch resets the
   * producing task. Full finds rot sooner, at the price of reading every byte one more time.
   */
  checkMode: CheckMode;
  /** Output checks run at once. */
  checkConcurrency: number;
  /** Freivalds rounds per output tile (each independent vector). */
  verifyRounds: number;
  /** Keep a job's partials after it verifies (default: delete them). */
  keepPartials: boolean;
  /** Wait this long after a job finishes before deleting its partials. */
  partialsGraceMs: number;
  /** Most task-resets the manager proposes for one job's unreadable outputs before failing it. */
  maxResetsPerJob: number;
  /** JetStream replicas used when the manager provisions the streams. */
  replicas: number;
  /** Also publish log lines to TESSERA_LOGS (`tessera logs` searches them). */
  shipLogs: boolean;
  logLevel: LogLevelSetting;
}

/** Flag name → environment variable consulted when the flag is absent. */
export const STORAGE_MANAGER_ENV: Readonly<Record<string, string>> = {
  nats: "TESSERA_NATS_URL",
  storage: "TESSERA_STORAGE",
  http: "TESSERA_STORAGE_MANAGER_HTTP",
  ...API_TLS_ENV,
  [API_TOKEN_FLAG]: API_TOKEN_ENV,
  "node-id": "TESSERA_STORAGE_MANAGER_ID",
  "check-mode": "TESSERA_CHECK_MODE",
  "check-concurrency": "TESSERA_CHECK_CONCURRENCY",
  "verify-rounds": "TESSERA_VERIFY_ROUNDS",
  "partials-grace-ms": "TESSERA_PARTIALS_GRACE_MS",
  "max-resets-per-job": "TESSERA_MAX_RESETS_PER_JOB",
  replicas: "TESSERA_REPLICAS",
  "log-level": "TESSERA_LOG_LEVEL",
};

/** Switches (no value) and the environment variable each falls back to. */
const STORAGE_MANAGER_SWITCHES: Readonly<Record<string, string>> = {
  "keep-partials": "TESSERA_KEEP_PARTIALS",
  "ship-logs": "TESSERA_SHIP_LOGS",
};

/** Parses argv (without node and script) and env into a validated config. */
export function parseStorageManagerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): StorageManagerConfig {
  const f: ServiceFlags = readServiceFlags(
    argv,
    env,
    { values: STORAGE_MANAGER_ENV, switches: STORAGE_MANAGER_SWITCHES },
    (message) => new StorageManagerError(StorageManagerErrorCode.Config, message),
  );
  const natsUrl = f.natsUrls().join(",");
  const storage = f.str("storage", undefined, {
    pattern: STORAGE_SPEC_PATTERN,
    what: "must be fs:<dir>, s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]",
  });
  const http = f.str("http", "127.0.0.1:9400");
  const m = /^([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(http);
  if (!m || Number(m[2]) > 65535) {
    f.fail("http", `${JSON.stringify(http)} must be host:port (port 0..65535)`);
  }
  const checkMode = f.str("check-mode", "head");
  if (checkMode !== "full" && checkMode !== "head") {
    f.fail("check-mode", `${JSON.stringify(checkMode)} must be full or head`);
  }
  return {
    natsUrl,
    natsSecurity: f.natsSecurity(),
    storage,
    http,
    apiTls: parseApiTls(f.raw, f.fail),
    apiTokenFile: f.raw(API_TOKEN_FLAG),
    nodeId: f.str("node-id", "storage-manager", {
      pattern: /^[A-Za-z0-9_-]{1,64}$/,
      what: "must be 1..64 characters of [A-Za-z0-9_-]",
    }),
    checkMode: checkMode as StorageManagerConfig["checkMode"],
    checkConcurrency: f.int("check-concurrency", 4, 1, 256),
    verifyRounds: f.int("verify-rounds", 2, 1, 64),
    keepPartials: f.on("keep-partials"),
    partialsGraceMs: f.int("partials-grace-ms", 0, 0, 7 * 24 * 3_600_000),
    maxResetsPerJob: f.int("max-resets-per-job", 3, 0, 1000),
    replicas: f.int("replicas", 1, 1, 5),
    shipLogs: f.on("ship-logs"),
    logLevel: f.logLevel(),
  };
}

export const STORAGE_MANAGER_USAGE = `usage: tessera-storage-manager --storage fs:<dir>|s3:<bucket>[/<prefix>]|gcs:<bucket>[/<prefix>] [options]
  --nats URL[,URL…]          NATS servers (default nats://127.0.0.1:4222)        env TESSERA_NATS_URL
${NATS_SECURITY_HELP}
  --http HOST:PORT           /healthz /readyz /metrics /v1/jobs (default 127.0.0.1:9400) env TESSERA_STORAGE_MANAGER_HTTP
${API_TLS_HELP}
  --api-token-file FILE      /v1/jobs… answers only Authorization: Bearer <the file's line>
                             (health, readiness, metrics stay open)              env TESSERA_API_TOKEN_FILE
  --node-id ID               client id prefix for proposals (default storage-manager)
  --check-mode head|full     head: size + recorded checksum (every byte is still CRC-verified by
                             its reader, which re-runs the task on a mismatch); full: also a verified
                             read of every output byte at once (default head)
  --check-concurrency N      output checks at once (default 4)
  --verify-rounds N          Freivalds rounds (independent random vectors) per tile (default 2)
  --keep-partials            keep a job's intermediate partials after it verifies    env TESSERA_KEEP_PARTIALS=1
  --ship-logs                also publish log lines to TESSERA_LOGS                  env TESSERA_SHIP_LOGS=1
  --partials-grace-ms MS     wait before deleting partials of a finished job (default 0)
  --max-resets-per-job N     task-resets proposed for unreadable outputs before failing the job (default 3)
  --replicas N               stream replicas when provisioning (default 1)
  --log-level LEVEL          trace|debug|info|warn|error|fatal|silent (default info)`;
