/**
 * Flags over environment variables over defaults, for the services' command-line parsers: argv
 * is read once (node:util parseArgs, strict: an unknown flag is an error), a flag that is absent
 * falls back to its environment variable (unset or "" = absent), and the checks every service
 * makes (integers in a range, NATS URLs, the log level...) fail with `--flag: reason`. Pure: the
 * caller passes argv and env, and turns a failure into its own error type.
 */
import { parseArgs } from "node:util";
import { NATS_SECURITY_ENV, type NatsSecurity, parseNatsSecurity } from "./nats-security.js";
import { switchSetting } from "./switch.js";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface FlagTable {
  /** Flags that take a value → the environment variable each falls back to. */
  readonly values: Readonly<Record<string, string>>;
  /** Flags without a value → the environment variable each falls back to (0/1/true/false). */
  readonly switches: Readonly<Record<string, string>>;
}

export interface ServiceFlags {
  /** The flag's value, else its environment variable's; undefined when neither is set. */
  raw(flag: string): string | undefined;
  /** Like raw, with a fallback; without one the flag is required. `check`: a pattern it must match. */
  str(flag: string, fallback?: string, check?: { pattern: RegExp; what: string }): string;
  int(flag: string, fallback: number, min: number, max: number): number;
  /** A non-negative decimal number. */
  num(flag: string, fallback: number, min: number, max: number): number;
  /** A switch: given, or its environment variable on. */
  on(flag: string): boolean;
  /** `--nats URL[,URL…]` (default nats://127.0.0.1:4222), each nats://host:port or host:port. */
  natsUrls(): string[];
  /** The `--nats-creds`, `--nats-user`, … `--nats-tls-key` settings (nats-security.ts). */
  natsSecurity(): NatsSecurity;
  /** `--log-level` (default info). */
  logLevel(): LogLevel;
  /** Throws the caller's error with `--flag: reason`. */
  fail(flag: string, reason: string): never;
}

const NATS_URL = /^(nats|tls|ws|wss):\/\/[^\s/]+$/;
const HOST_PORT = /^[^\s/:]+:\d+$/;

/**
 * A table that has `nats` also gets the NATS security flags (NATS_SECURITY_ENV): every process
 * that speaks NATS can be pointed at a server that requires credentials or TLS, the same way.
 */
export function readServiceFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  given: FlagTable,
  toError: (message: string) => Error,
): ServiceFlags {
  const table: FlagTable =
    "nats" in given.values
      ? { values: { ...given.values, ...NATS_SECURITY_ENV }, switches: given.switches }
      : given;
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        ...Object.fromEntries(
          Object.keys(table.values).map((f) => [f, { type: "string" as const }]),
        ),
        ...Object.fromEntries(
          Object.keys(table.switches).map((f) => [f, { type: "boolean" as const }]),
        ),
        help: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw toError(`flags: ${(err as Error).message}`);
  }
  const fail = (flag: string, reason: string): never => {
    throw toError(`--${flag}: ${reason}`);
  };
  const raw = (flag: string): string | undefined => {
    const v = values[flag];
    if (typeof v === "string") return v;
    const envName = table.values[flag];
    const e = envName === undefined ? undefined : env[envName];
    return e === undefined || e === "" ? undefined : e;
  };
  const str = (flag: string, fallback?: string, check?: { pattern: RegExp; what: string }) => {
    const v = raw(flag) ?? fallback;
    if (v === undefined) {
      const envName = table.values[flag];
      return fail(flag, envName ? `is required (or set ${envName})` : "is required");
    }
    if (check && !check.pattern.test(v)) fail(flag, `${JSON.stringify(v)} ${check.what}`);
    return v;
  };
  const ranged = (flag: string, fallback: number, min: number, max: number, integer: boolean) => {
    const v = raw(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    const shape = integer ? /^\d+$/ : /^\d+(\.\d+)?$/;
    const valid = shape.test(v) && (integer ? Number.isSafeInteger(n) : Number.isFinite(n));
    if (!valid || n < min || n > max) {
      const what = integer ? "an integer" : "a number";
      fail(flag, `${JSON.stringify(v)} must be ${what} between ${min} and ${max}`);
    }
    return n;
  };
  return {
    raw,
    str,
    int: (flag, fallback, min, max) => ranged(flag, fallback, min, max, true),
    num: (flag, fallback, min, max) => ranged(flag, fallback, min, max, false),
    on: (flag) => switchSetting(values[flag], table.switches[flag] ?? "", env, toError),
    natsUrls() {
      const urls = str("nats", "nats://127.0.0.1:4222")
        .split(",")
        .map((u) => u.trim());
      for (const url of urls) {
        if (!NATS_URL.test(url) && !HOST_PORT.test(url)) {
          fail(
            "nats",
            `${JSON.stringify(url)} must look like nats://host:port (comma-separated for several)`,
          );
        }
      }
      return urls;
    },
    natsSecurity: () => parseNatsSecurity(raw, fail),
    logLevel() {
      const level = str("log-level", "info");
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        fail("log-level", `${JSON.stringify(level)} must be one of ${LOG_LEVELS.join(", ")}`);
      }
      return level as LogLevel;
    },
    fail,
  };
}
