// The security options the CLI shares with the services (@tessera/config): NATS credentials and
// TLS on every command that talks to NATS itself (`dev up`, `logs`, `job profile`, `node
// promote`), and the consensus gRPC's mutual TLS and the HTTP API's certificate on `dev up`,
// which hands them to the processes it starts. Same flags, same environment variables: one set
// of exports serves the CLI and the services.
import {
  API_TLS_ENV,
  API_TLS_FLAGS,
  type ApiTlsFiles,
  CLUSTER_TLS_ENV,
  type ClusterTlsFiles,
  flagToCamel,
  NATS_SECURITY_ENV,
  type NatsSecurity,
  natsSecurityIsSet,
  parseApiTls,
  parseClusterTls,
  parseNatsSecurity,
  readCertificateFile,
  readPrivateKeyFile,
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

/** A flag's value from commander's options, else its environment variable (unset or "": none). */
function optionOrEnv(
  opts: object,
  env: NodeJS.ProcessEnv,
  envNames: Readonly<Record<string, string>>,
): (flag: string) => string | undefined {
  return (flag) => {
    const v = (opts as Readonly<Record<string, unknown>>)[flagToCamel(flag)];
    if (typeof v === "string" && v !== "") return v;
    const e = env[envNames[flag] ?? ""];
    return e === undefined || e === "" ? undefined : e;
  };
}

const usageError = (flag: string, reason: string): never => {
  throw new CliError(`--${flag}: ${reason}`, 2);
};

/**
 * The settings from the command's options, else the environment; with neither, `fallback` (the
 * running dev cluster's, so `tessera logs` works against a secured `dev up` as against any).
 */
export function resolveNatsSecurity(
  opts: NatsSecurityFlags,
  env: NodeJS.ProcessEnv = process.env,
  fallback: NatsSecurity = {},
): NatsSecurity {
  const sec = parseNatsSecurity(optionOrEnv(opts, env, NATS_SECURITY_ENV), usageError);
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

/** What commander hands an action for the `--cluster-tls-…` options. */
export type ClusterTlsFlags = {
  clusterTlsCa?: string;
  clusterTlsCert?: string;
  clusterTlsKey?: string;
};

/** Adds `--cluster-tls-ca/-cert/-key` (each defaulting to its TESSERA_CLUSTER_TLS_… variable). */
export function clusterTlsOptions(cmd: Command): Command {
  return cmd
    .option(
      "--cluster-tls-ca <file>",
      "PEM CA of the consensus peers' mutual TLS (gRPC: Raft and the Manifest API; with the cert and key) (default: $TESSERA_CLUSTER_TLS_CA)",
    )
    .option(
      "--cluster-tls-cert <file>",
      "PEM certificate the peers and the scheduler present (default: $TESSERA_CLUSTER_TLS_CERT)",
    )
    .option("--cluster-tls-key <file>", "PEM key of it (default: $TESSERA_CLUSTER_TLS_KEY)");
}

/** The `--cluster-tls-…` files from the options, else the environment; undefined when none. */
export function resolveClusterTls(
  opts: ClusterTlsFlags,
  env: NodeJS.ProcessEnv = process.env,
): ClusterTlsFiles | undefined {
  return parseClusterTls(optionOrEnv(opts, env, CLUSTER_TLS_ENV), usageError);
}

/** What commander hands an action for `--api-tls-cert/-key`. */
export type ApiTlsFlags = {
  apiTlsCert?: string;
  apiTlsKey?: string;
};

/** Adds `--api-tls-cert/-key` (`dev up`: the peers serve their HTTP API over HTTPS). */
export function apiTlsOptions(cmd: Command): Command {
  return cmd
    .option(
      "--api-tls-cert <file>",
      "PEM certificate: the peers serve their HTTP API over HTTPS (with --api-tls-key; clients may need --api-ca) (default: $TESSERA_API_TLS_CERT)",
    )
    .option("--api-tls-key <file>", "PEM key of it (default: $TESSERA_API_TLS_KEY)");
}

/** The `--api-tls-…` files from the options, else the environment; undefined when none. */
export function resolveApiTls(
  opts: ApiTlsFlags,
  env: NodeJS.ProcessEnv = process.env,
): ApiTlsFiles | undefined {
  return parseApiTls(optionOrEnv(opts, env, API_TLS_ENV), usageError);
}

/** The certificate and key are readable PEM (checked before any peer starts with them). */
export function checkApiTlsFiles(files: ApiTlsFiles): void {
  readCertificateFile(API_TLS_FLAGS.certFile, files.certFile, usageError);
  readPrivateKeyFile(API_TLS_FLAGS.keyFile, files.keyFile, usageError);
}
