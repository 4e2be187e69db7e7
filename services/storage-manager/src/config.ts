// Storage-manager configuration: flags over environment variables over defaults, every field
// validated with a message naming the flag and the reason. Pure: no I/O.
import { parseArgs } from "node:util";
import { switchSetting } from "@tessera/config";
import { STORAGE_SPEC_PATTERN } from "@tessera/storage";
import { StorageManagerError, StorageManagerErrorCode } from "./errors.js";

export type CheckMode = "full" | "head";
export type LogLevelSetting = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export interface StorageManagerConfig {
  natsUrl: string;
  /** `fs:<dir>`, `s3:<bucket>[/<prefix>]`, `gcs:<bucket>[/<prefix>]`. */
  storage: string;
  /** host:port of /healthz /readyz /metrics and the outputs API (port 0 = any free port). */
  http: string;
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
  "node-id": "TESSERA_STORAGE_MANAGER_ID",
  "check-mode": "TESSERA_CHECK_MODE",
  "check-concurrency": "TESSERA_CHECK_CONCURRENCY",
  "verify-rounds": "TESSERA_VERIFY_ROUNDS",
  "keep-partials": "TESSERA_KEEP_PARTIALS",
  "partials-grace-ms": "TESSERA_PARTIALS_GRACE_MS",
  "max-resets-per-job": "TESSERA_MAX_RESETS_PER_JOB",
  replicas: "TESSERA_REPLICAS",
  "log-level": "TESSERA_LOG_LEVEL",
  "ship-logs": "TESSERA_SHIP_LOGS",
};

const BOOLEAN_FLAGS = new Set(["keep-partials", "ship-logs"]);
const STRING_FLAGS = Object.keys(STORAGE_MANAGER_ENV).filter((f) => !BOOLEAN_FLAGS.has(f));
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

function configError(flag: string, reason: string): StorageManagerError {
  return new StorageManagerError(StorageManagerErrorCode.Config, `--${flag}: ${reason}`);
}

/** Parses argv (without node and script) and env into a validated config. */
export function parseStorageManagerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): StorageManagerConfig {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((f) => [f, { type: "string" as const }])),
        ...Object.fromEntries([...BOOLEAN_FLAGS].map((f) => [f, { type: "boolean" as const }])),
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new StorageManagerError(
      StorageManagerErrorCode.Config,
      `flags: ${(err as Error).message}`,
    );
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const raw = (flag: string): string | undefined => {
    const v = values[flag];
    if (typeof v === "string") return v;
    const envName = STORAGE_MANAGER_ENV[flag];
    const e = envName ? env[envName] : undefined;
    return e === undefined || e === "" ? undefined : e;
  };
  const str = (flag: string, fallback: string | undefined): string => {
    const v = raw(flag) ?? fallback;
    if (v === undefined) {
      throw configError(flag, `is required (or set ${STORAGE_MANAGER_ENV[flag]})`);
    }
    return v;
  };
  const int = (flag: string, fallback: number, min: number, max: number): number => {
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
  const storage = str("storage", undefined);
  if (!STORAGE_SPEC_PATTERN.test(storage)) {
    throw configError(
      "storage",
      `${JSON.stringify(storage)} must be fs:<dir>, s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]`,
    );
  }
  const http = str("http", "127.0.0.1:9400");
  const m = /^([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(http);
  if (!m || Number(m[2]) > 65535) {
    throw configError("http", `${JSON.stringify(http)} must be host:port (port 0..65535)`);
  }
  const nodeId = str("node-id", "storage-manager");
  if (!TOKEN.test(nodeId)) {
    throw configError(
      "node-id",
      `${JSON.stringify(nodeId)} must be 1..64 characters of [A-Za-z0-9_-]`,
    );
  }
  const checkMode = str("check-mode", "head");
  if (checkMode !== "full" && checkMode !== "head") {
    throw configError("check-mode", `${JSON.stringify(checkMode)} must be full or head`);
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
      STORAGE_MANAGER_ENV[flag] ?? "",
      env,
      (reason) => new StorageManagerError(StorageManagerErrorCode.Config, reason),
    );
  return {
    natsUrl,
    storage,
    http,
    nodeId,
    checkMode,
    checkConcurrency: int("check-concurrency", 4, 1, 256),
    verifyRounds: int("verify-rounds", 2, 1, 64),
    keepPartials: bool("keep-partials"),
    partialsGraceMs: int("partials-grace-ms", 0, 0, 7 * 24 * 3_600_000),
    maxResetsPerJob: int("max-resets-per-job", 3, 0, 1000),
    replicas: int("replicas", 1, 1, 5),
    shipLogs: bool("ship-logs"),
    logLevel: logLevel as LogLevelSetting,
  };
}

export const STORAGE_MANAGER_USAGE = `usage: tessera-storage-manager --storage fs:<dir>|s3:<bucket>[/<prefix>]|gcs:<bucket>[/<prefix>] [options]
  --nats URL[,URL…]          NATS servers (default nats://127.0.0.1:4222)        env TESSERA_NATS_URL
  --http HOST:PORT           /healthz /readyz /metrics /v1/jobs (default 127.0.0.1:9400) env TESSERA_STORAGE_MANAGER_HTTP
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
