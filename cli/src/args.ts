// Argument validation for `tessera` (pure; every message names the flag and the reason, exit 2).
import { autoKPerMap, parseTaskId } from "@tessera/matrix/naming";
import { CliError } from "./client.js";

/** `tessera job export --format`. */
export const EXPORT_FORMATS = ["npy", "raw"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** `orElse` names what the flag accepts besides a number (e.g. "auto"), for the message. */
export function intArg(
  flag: string,
  value: string | undefined,
  min: number,
  max: number,
  orElse?: string,
): number {
  if (value === undefined) throw new CliError(`${flag}: is required`, 2);
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    const either = orElse === undefined ? "" : `${orElse} or `;
    throw new CliError(
      `${flag}: ${JSON.stringify(value)} must be ${either}an integer between ${min} and ${max}`,
      2,
    );
  }
  return n;
}

/**
 * Attempts per task a job may use (the manifest's MAX_TASK_ATTEMPTS; not imported, so that the
 * CLI does not load the protocol's schemas to parse its flags; args.test.ts checks they agree).
 */
export const MAX_ATTEMPTS_FLAG = 255;

/** `--max-attempts`: undefined when absent (the manifest's default applies). */
export function maxAttemptsArg(value: string | undefined): number | undefined {
  return value === undefined ? undefined : intArg("--max-attempts", value, 1, MAX_ATTEMPTS_FLAG);
}

export interface MatmulArgs {
  readonly n: number;
  readonly tile: number;
  readonly mode: "exact" | "float" | "empty";
  readonly seed: number;
  /** Present only when not 1 (the spec's canonical form). */
  readonly kPerMap?: number;
}

const MAX_N = 2 ** 20;

/** `job submit matmul` flags → a job spec; the tile must be a power of two dividing n. */
export function parseMatmulArgs(o: {
  n?: string;
  tile?: string;
  mode?: string;
  seed?: string;
  kPerMap?: string;
}): MatmulArgs {
  const n = intArg("--n", o.n, 1, MAX_N);
  const tile = intArg("--tile", o.tile ?? String(Math.min(1024, n)), 16, 8192);
  if ((tile & (tile - 1)) !== 0) {
    throw new CliError(`--tile: ${tile} must be a power of two between 16 and 8192`, 2);
  }
  if (n % tile !== 0) throw new CliError(`--tile: ${tile} must divide --n ${n}`, 2);
  const mode = o.mode ?? "exact";
  if (mode !== "exact" && mode !== "float" && mode !== "empty") {
    throw new CliError(`--mode: ${JSON.stringify(mode)} must be exact, float or empty`, 2);
  }
  const seed = intArg("--seed", o.seed ?? "1", 0, 0xffff_ffff);
  const K = n / tile;
  // "auto" (the default): the largest grouping whose packed operand stays ≤ 64 MiB (measured
  // fastest; libs/matrix autoKPerMap). A number asks for exactly that grouping.
  const kPerMap =
    (o.kPerMap ?? "auto") === "auto"
      ? autoKPerMap(n, tile)
      : intArg("--k-per-map", o.kPerMap, 1, K, "auto");
  if (K % kPerMap !== 0) {
    throw new CliError(`--k-per-map: ${kPerMap} must divide the tiles per side n/tile = ${K}`, 2);
  }
  return kPerMap === 1 ? { n, tile, mode, seed } : { n, tile, mode, seed, kPerMap };
}

export type StorageKind = "fs" | "s3" | "gcs";

export interface DevUpArgs {
  readonly peers: number;
  readonly agents: number;
  /** Scheduler instances (default 1): a second one keeps placing work while the first restarts. */
  readonly schedulers?: number;
  readonly storage: StorageKind;
  readonly nats: string | undefined;
  readonly data: string | undefined;
  /** Start a service process again when it exits while the cluster runs (`--restart`). */
  readonly restart?: boolean;
}

export function parseDevUpArgs(o: {
  peers?: string;
  agents?: string;
  schedulers?: string;
  storage?: string;
  nats?: string;
  data?: string;
  restart?: boolean;
}): DevUpArgs {
  const peers = intArg("--peers", o.peers ?? "3", 1, 7);
  const agents = intArg("--agents", o.agents ?? "2", 0, 64);
  const schedulers = intArg("--schedulers", o.schedulers ?? "1", 1, 4);
  const storage = o.storage ?? "fs";
  if (storage !== "fs" && storage !== "s3" && storage !== "gcs") {
    throw new CliError(`--storage: ${JSON.stringify(storage)} must be fs, s3 or gcs`, 2);
  }
  if (o.nats !== undefined) {
    for (const url of o.nats.split(",")) {
      if (!/^(nats|tls):\/\/[^\s/]+:\d+$/.test(url)) {
        throw new CliError(`--nats: ${JSON.stringify(url)} must look like nats://host:port`, 2);
      }
    }
  }
  if (o.data !== undefined && o.data.trim() === "") {
    throw new CliError("--data: must be a directory path", 2);
  }
  return {
    peers,
    agents,
    schedulers,
    storage,
    nats: o.nats,
    data: o.data,
    restart: o.restart === true,
  };
}

const JOB_ID = /^[A-Za-z0-9._-]{1,64}$/;
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `--task`: a map `m-<i>-<j>-<k>` or a reduce `r-<i>-<j>` (range checks are the server's). */
export function taskIdArg(value: string): string {
  try {
    parseTaskId(value);
  } catch {
    throw new CliError(
      `--task: ${JSON.stringify(value)} must be m-<i>-<j>-<k> (a map) or r-<i>-<j> (a reduce)`,
      2,
    );
  }
  return value;
}

export function jobIdArg(value: string): string {
  if (!JOB_ID.test(value)) {
    throw new CliError(
      `JOB: ${JSON.stringify(value)} must be 1..64 characters of [A-Za-z0-9._-]`,
      2,
    );
  }
  return value;
}

export function nodeIdArg(value: string): string {
  if (!NODE_ID.test(value)) {
    throw new CliError(
      `NODE: ${JSON.stringify(value)} must be 1..64 characters of [A-Za-z0-9_-]`,
      2,
    );
  }
  return value;
}

/** Largest consensus peer id the CLI accepts (ids are positive integers). */
const MAX_PEER_ID = 2 ** 31 - 1;

/** A consensus peer id (a positive integer), or exit 2 naming `flag`. */
export function peerIdArg(flag: string, value: string | undefined): number {
  return intArg(flag, value, 1, MAX_PEER_ID);
}

/** host:port, or exit 2 naming `flag`. */
export function hostPortArg(flag: string, value: string | undefined): string {
  if (value === undefined) throw new CliError(`${flag}: is required (host:port)`, 2);
  const m = /^([^\s:/]+):(\d+)$/.exec(value);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65_535) {
    throw new CliError(`${flag}: ${JSON.stringify(value)} must be host:port (port 1..65535)`, 2);
  }
  return value;
}

/** An http(s) URL, or exit 2 naming `flag`. */
export function httpUrlArg(flag: string, value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new CliError(`${flag}: ${JSON.stringify(value)} must be an http:// or https:// URL`, 2);
  }
  return value.replace(/\/$/, "");
}

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** `--since 10m` | `2h` | `1d` (that long before `now`) | an ISO time → epoch ms. */
export function parseSince(value: string, now: number, flag = "--since"): number {
  const d = DURATION.exec(value);
  if (d) return now - Number(d[1]) * (UNIT_MS[d[2] as string] ?? 0);
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new CliError(
      `${flag}: ${JSON.stringify(value)} must be a duration (30s, 10m, 2h, 1d) or an ISO time`,
      2,
    );
  }
  return t;
}
