// The NATS credential and TLS options of every command that talks to NATS itself (`dev up`,
// `logs`, `job profile`, `node promote`): the services' flags and environment variables
// (@tessera/config nats-security.ts), so one set of exports serves the CLI and the services.
import {
  NATS_SECURITY_ENV,
  type NatsSecurity,
  natsSecurityIsSet,
  parseNatsSecurity,
} from "@tessera/config";
import type { Command } from "commander";
import { CliError } from "./client.js";

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  "nats-creds": "NATS credentials file (user JWT + NKey seed)",
  "nats-user": "NATS user (with --nats-password-file)",
  "nats-password-file": "file holding the NATS user's password",
  "nats-token-file": "file holding the NATS server's auth token",
  "nats-tls-ca": "PEM CA the NATS server's certificate must chain to",
  "nats-tls-cert": "PEM client certificate for NATS (mutual TLS; with --nats-tls-key)",
  "nats-tls-key": "PEM key of --nats-tls-cert",
};

/** What commander hands an action for those options. */
export type NatsSecurityFlags = {
  natsCreds?: string;
  natsUser?: string;
  natsPasswordFile?: string;
  natsTokenFile?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
};

/** Adds the seven `--nats-…` options (each defaulting to its TESSERA_NATS_… variable). */
export function natsSecurityOptions(cmd: Command): Command {
  for (const [flag, env] of Object.entries(NATS_SECURITY_ENV)) {
    cmd.option(
      `--${flag} <${flag === "nats-user" ? "name" : "file"}>`,
      `${DESCRIPTIONS[flag]} (default: $${env})`,
    );
  }
  return cmd;
}

/** nats-tls-ca → natsTlsCa: where commander puts a flag's value. */
const optionKey = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * The settings from the command's options, else the environment; with neither, `fallback` (the
 * running dev cluster's, so `tessera logs` works against a secured `dev up` as against any).
 */
export function resolveNatsSecurity(
  opts: NatsSecurityFlags,
  env: NodeJS.ProcessEnv = process.env,
  fallback: NatsSecurity = {},
): NatsSecurity {
  const sec = parseNatsSecurity(
    (flag) => {
      const v = (opts as Readonly<Record<string, unknown>>)[optionKey(flag)];
      if (typeof v === "string" && v !== "") return v;
      const e = env[NATS_SECURITY_ENV[flag] ?? ""];
      return e === undefined || e === "" ? undefined : e;
    },
    (flag, reason) => {
      throw new CliError(`--${flag}: ${reason}`, 2);
    },
  );
  return natsSecurityIsSet(sec) ? sec : fallback;
}

/**
 * A failed NATS connect as the CLI reports it: a refused login or an unusable file names its own
 * flag; anything else is about the address (`--nats`).
 */
export function natsConnectError(err: unknown): CliError {
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as Error).message;
  return code === "TESSERA_E_MESSAGING_AUTH" || code === "TESSERA_E_MESSAGING_SECURITY_CONFIG"
    ? new CliError(message)
    : new CliError(`--nats: ${message}`);
}
