/**
 * Turns the NATS security settings (@tessera/config NatsSecurity: file paths) into nats.js
 * connection options, reading and checking every file first so that a missing file, an empty
 * password or a key that is not PEM fails at start-up with the flag's name, instead of as
 * connect attempts that fail the same way until the connect budget runs out.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  type Authenticator,
  credsAuthenticator,
  type TlsOptions,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from "@nats-io/nats-core";
import { NATS_SECURITY_FLAGS, type NatsSecurity } from "@tessera/config";
import { MessagingError } from "./errors.js";

export interface NatsSecurityOptions {
  readonly authenticator?: Authenticator;
  readonly tls?: TlsOptions;
}

function fail(field: keyof NatsSecurity, reason: string, cause?: unknown): never {
  throw new MessagingError(
    "TESSERA_E_MESSAGING_SECURITY_CONFIG",
    `--${NATS_SECURITY_FLAGS[field]}: ${reason}`,
    cause === undefined ? undefined : { cause },
  );
}

function read(field: keyof NatsSecurity, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return fail(field, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, err);
  }
  return text;
}

/** A one-line secret (password, token): the file's text without its final line break. */
function readSecret(field: keyof NatsSecurity, path: string): string {
  const secret = read(field, path).replace(/\r?\n$/, "");
  if (secret === "") fail(field, `${path} is empty`);
  if (/[\r\n]/.test(secret)) fail(field, `${path} must hold one line`);
  return secret;
}

function readCertificate(field: keyof NatsSecurity, path: string): string {
  const pem = read(field, path);
  try {
    new X509Certificate(pem);
  } catch (err) {
    fail(field, `${path} is not a PEM certificate (${(err as Error).message})`, err);
  }
  return pem;
}

function readKey(field: keyof NatsSecurity, path: string): string {
  const pem = read(field, path);
  try {
    createPrivateKey(pem);
  } catch (err) {
    fail(field, `${path} is not a PEM private key (${(err as Error).message})`, err);
  }
  return pem;
}

/**
 * The authenticator and TLS options for `sec`. `requireTls` (a `tls://` server URL) asks for TLS
 * even without a CA or client certificate: the server's certificate is then checked against the
 * system's trusted CAs, and a server that does not offer TLS is refused.
 */
export function natsSecurityOptions(sec: NatsSecurity, requireTls: boolean): NatsSecurityOptions {
  let authenticator: Authenticator | undefined;
  if (sec.credsFile !== undefined) {
    const creds = read("credsFile", sec.credsFile);
    if (
      !/-----BEGIN NATS USER JWT-----/.test(creds) ||
      !/-----BEGIN USER NKEY SEED-----/.test(creds)
    )
      fail(
        "credsFile",
        `${sec.credsFile} is not a NATS credentials file (a user JWT and its NKey seed)`,
      );
    authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  } else if (sec.user !== undefined && sec.passwordFile !== undefined) {
    authenticator = usernamePasswordAuthenticator(
      sec.user,
      readSecret("passwordFile", sec.passwordFile),
    );
  } else if (sec.tokenFile !== undefined) {
    authenticator = tokenAuthenticator(readSecret("tokenFile", sec.tokenFile));
  }
  const tls: { ca?: string; cert?: string; key?: string } = {};
  if (sec.tlsCaFile !== undefined) tls.ca = readCertificate("tlsCaFile", sec.tlsCaFile);
  if (sec.tlsCertFile !== undefined) tls.cert = readCertificate("tlsCertFile", sec.tlsCertFile);
  if (sec.tlsKeyFile !== undefined) tls.key = readKey("tlsKeyFile", sec.tlsKeyFile);
  const wantsTls = requireTls || Object.keys(tls).length > 0;
  return {
    ...(authenticator ? { authenticator } : {}),
    ...(wantsTls ? { tls } : {}),
  };
}
