/**
 * Reading the files a flag names (secrets, PEM certificates and keys) with a failure that names
 * the flag: `--nats-tls-key: /s/k.pem is not a PEM private key (…)`. `fail` throws the caller's
 * own error type, so each service and library keeps its error catalogue.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";

/** Throws the caller's error for `--flag: reason`. */
export type FlagFailure = (flag: string, reason: string, cause?: unknown) => never;

export function readFlagFile(flag: string, path: string, fail: FlagFailure): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    return fail(flag, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, err);
  }
}

/** A one-line secret (password, token): the file's text without its final line break. */
export function readSecretFile(flag: string, path: string, fail: FlagFailure): string {
  const secret = readFlagFile(flag, path, fail).replace(/\r?\n$/, "");
  if (secret === "") fail(flag, `${path} is empty`);
  if (/[\r\n]/.test(secret)) fail(flag, `${path} must hold one line`);
  return secret;
}

/**
 * A PEM certificate (or bundle: the first must parse), valid at `now`: an expired one would only
 * fail every TLS handshake later with a reason far from its file (CERT_HAS_EXPIRED), so it fails
 * here naming the flag and the date.
 */
export function readCertificateFile(
  flag: string,
  path: string,
  fail: FlagFailure,
  now: number = Date.now(),
): string {
  const pem = readFlagFile(flag, path, fail);
  let cert: X509Certificate | undefined;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    fail(flag, `${path} is not a PEM certificate (${(err as Error).message})`, err);
  }
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now > to) fail(flag, `${path} expired on ${new Date(to).toISOString()}`);
  if (now < from) fail(flag, `${path} is not valid before ${new Date(from).toISOString()}`);
  return pem;
}

/** When the first certificate of `pem` stops being valid, in ms since the epoch. */
export function certificateNotAfter(pem: string): number {
  return Date.parse(new X509Certificate(pem).validTo);
}

/** An unencrypted PEM private key. */
export function readPrivateKeyFile(flag: string, path: string, fail: FlagFailure): string {
  const pem = readFlagFile(flag, path, fail);
  try {
    createPrivateKey(pem);
  } catch (err) {
    fail(flag, `${path} is not a PEM private key (${(err as Error).message})`, err);
  }
  return pem;
}
