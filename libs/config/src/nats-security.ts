/**
 * How a process authenticates to NATS and checks the server's certificate: the same seven flags
 * (and environment variables) on every service and on the `tessera` CLI. Every secret is a FILE
 * path, never a value, so no password or token shows in `ps`, in a shell history or in the
 * environment a process hands its children (Kubernetes and Compose mount secrets as files).
 * Pure: the files are read where the connection is made (@tessera/messaging), which names the
 * flag when one cannot be used.
 */

/** Paths only; an absent field is not used. */
export interface NatsSecurity {
  /** A NATS credentials file (user JWT + NKey seed), for servers with decentralized auth. */
  readonly credsFile?: string;
  /** A user of the server's `authorization { users … }` (its password in passwordFile). */
  readonly user?: string;
  readonly passwordFile?: string;
  /** A file holding the server's `authorization { token … }`. */
  readonly tokenFile?: string;
  /** PEM CA bundle the server's certificate must chain to (a private CA). */
  readonly tlsCaFile?: string;
  /** PEM client certificate and its key, for servers that verify clients (mutual TLS). */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
}

/** Each field's flag (without `--`), in the order help texts list them. */
export const NATS_SECURITY_FLAGS: Readonly<Record<keyof NatsSecurity, string>> = {
  credsFile: "nats-creds",
  user: "nats-user",
  passwordFile: "nats-password-file",
  tokenFile: "nats-token-file",
  tlsCaFile: "nats-tls-ca",
  tlsCertFile: "nats-tls-cert",
  tlsKeyFile: "nats-tls-key",
};

/** Flag → the environment variable it falls back to; spread into a service's flag table. */
export const NATS_SECURITY_ENV: Readonly<Record<string, string>> = {
  "nats-creds": "TESSERA_NATS_CREDS",
  "nats-user": "TESSERA_NATS_USER",
  "nats-password-file": "TESSERA_NATS_PASSWORD_FILE",
  "nats-token-file": "TESSERA_NATS_TOKEN_FILE",
  "nats-tls-ca": "TESSERA_NATS_TLS_CA",
  "nats-tls-cert": "TESSERA_NATS_TLS_CERT",
  "nats-tls-key": "TESSERA_NATS_TLS_KEY",
};

/** The lines services' `--help` print for these flags. */
export const NATS_SECURITY_HELP = `  --nats-creds FILE        NATS credentials file (JWT + NKey seed)            env TESSERA_NATS_CREDS
  --nats-user NAME         NATS user (with --nats-password-file)              env TESSERA_NATS_USER
  --nats-password-file F   file holding that user's password                  env TESSERA_NATS_PASSWORD_FILE
  --nats-token-file FILE   file holding the server's auth token                env TESSERA_NATS_TOKEN_FILE
  --nats-tls-ca FILE       PEM CA the NATS server's certificate must chain to env TESSERA_NATS_TLS_CA
  --nats-tls-cert FILE     PEM client certificate (mutual TLS; with the key)  env TESSERA_NATS_TLS_CERT
  --nats-tls-key FILE      PEM key of that certificate                        env TESSERA_NATS_TLS_KEY`;

const FIELDS = Object.keys(NATS_SECURITY_FLAGS) as (keyof NatsSecurity)[];

/**
 * Reads and cross-checks the seven settings. `raw(flag)` is the flag's value or its environment
 * variable's (undefined when neither); `fail(flag, reason)` throws the caller's error.
 */
export function parseNatsSecurity(
  raw: (flag: string) => string | undefined,
  fail: (flag: string, reason: string) => never,
): NatsSecurity {
  const sec: { -readonly [K in keyof NatsSecurity]?: string } = {};
  for (const field of FIELDS) {
    const value = raw(NATS_SECURITY_FLAGS[field]);
    if (value !== undefined) sec[field] = value;
  }
  const f = NATS_SECURITY_FLAGS;
  if (sec.user !== undefined && sec.passwordFile === undefined)
    fail(f.passwordFile, `is required with --${f.user}`);
  if (sec.passwordFile !== undefined && sec.user === undefined)
    fail(f.user, `is required with --${f.passwordFile}`);
  // One identity per connection: the server would take one and silently ignore the others.
  const ways = (["credsFile", "user", "tokenFile"] as const).filter((k) => sec[k] !== undefined);
  if (ways.length > 1) {
    const [first, second] = ways as [keyof NatsSecurity, keyof NatsSecurity];
    fail(f[second], `cannot be combined with --${f[first]}: choose one way to authenticate`);
  }
  if (sec.tlsCertFile !== undefined && sec.tlsKeyFile === undefined)
    fail(f.tlsKeyFile, `is required with --${f.tlsCertFile}`);
  if (sec.tlsKeyFile !== undefined && sec.tlsCertFile === undefined)
    fail(f.tlsCertFile, `is required with --${f.tlsKeyFile}`);
  return sec;
}

/**
 * The environment a child process needs to connect the same way (`tessera dev up` passes it to
 * every process it starts). Paths only: no secret travels in an environment variable.
 */
export function natsSecurityEnv(sec: NatsSecurity): Record<string, string> {
  const env: Record<string, string> = {};
  for (const field of FIELDS) {
    const value = sec[field];
    const name = NATS_SECURITY_ENV[NATS_SECURITY_FLAGS[field]];
    if (value !== undefined && name !== undefined) env[name] = value;
  }
  return env;
}

/**
 * The settings a process with environment `env` would use (its TESSERA_NATS_* variables): what
 * `tessera dev up` records for the CLI and what test helpers connect with.
 */
export function natsSecurityFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): NatsSecurity {
  return parseNatsSecurity(
    (flag) => env[NATS_SECURITY_ENV[flag] ?? ""] || undefined,
    (flag, reason) => {
      throw new Error(`${NATS_SECURITY_ENV[flag] ?? flag} (--${flag}): ${reason}`);
    },
  );
}

/** True when any setting is present (the connection is not the default anonymous plain one). */
export function natsSecurityIsSet(sec: NatsSecurity): boolean {
  return FIELDS.some((k) => sec[k] !== undefined);
}
