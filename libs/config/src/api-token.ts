/**
 * The consensus HTTP API's bearer token: peers started with `--api-token-file FILE` answer only
 * requests carrying `Authorization: Bearer <the file's line>` (health, readiness and metrics stay
 * open for probes and Prometheus), and so does the storage-manager's outputs API given the same
 * flag; the CLI and the scheduler send it from the same flag or variable. A file, never a value,
 * like every secret here.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { type FlagFailure, readSecretFile } from "./pem-files.js";

export const API_TOKEN_FLAG = "api-token-file";
export const API_TOKEN_ENV = "TESSERA_API_TOKEN_FILE";
/** Shorter tokens are guessable; `openssl rand -hex 32` makes a good one. */
export const MIN_API_TOKEN_LENGTH = 16;

export const API_TOKEN_HELP = `  --api-token-file FILE    bearer token of the consensus HTTP API (one line)  env TESSERA_API_TOKEN_FILE`;

/** The token in `path`, checked (one line, at least MIN_API_TOKEN_LENGTH characters). */
export function readApiToken(path: string, fail: FlagFailure): string {
  const token = readSecretFile(API_TOKEN_FLAG, path, fail);
  if (token.length < MIN_API_TOKEN_LENGTH) {
    fail(
      API_TOKEN_FLAG,
      `${path} holds ${token.length} characters; a token needs at least ${MIN_API_TOKEN_LENGTH} (e.g. openssl rand -hex 32)`,
    );
  }
  if (/\s/.test(token)) fail(API_TOKEN_FLAG, `${path}: a token cannot contain spaces`);
  return token;
}

/** The request header that carries `token` (nothing without one). */
export function bearerHeader(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** What a request's Authorization header is, against the token. */
export type BearerVerdict = "ok" | "missing" | "wrong";

/**
 * A checker of `Authorization` headers against `token`. Compared as SHA-256 digests with
 * timingSafeEqual, so neither the length nor a prefix of the token leaks through response times.
 */
export function bearerVerifier(
  token: string,
): (authorization: string | undefined) => BearerVerdict {
  const expected = createHash("sha256").update(`Bearer ${token}`).digest();
  return (authorization) => {
    if (authorization === undefined) return "missing";
    const given = createHash("sha256").update(authorization).digest();
    return timingSafeEqual(given, expected) ? "ok" : "wrong";
  };
}

/** The 401 answer's message: what to send, or that the token sent is not the right one. */
export function bearerRefusal(verdict: "missing" | "wrong"): string {
  return verdict === "missing"
    ? "this API requires Authorization: Bearer <token> (tessera: --api-token-file or TESSERA_API_TOKEN_FILE)"
    : "the bearer token is not this cluster's";
}

/** Paths that answer without the token: liveness, readiness and metrics (probes, Prometheus). */
export const OPEN_HTTP_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics"]);
