/**
 * The consensus HTTP API's bearer token: peers started with `--api-token-file FILE` answer only
 * requests carrying `Authorization: Bearer <the file's line>` (health, readiness and metrics stay
 * open for probes and Prometheus); the CLI and the scheduler send it from the same flag or
 * variable. A file, never a value, like every secret here.
 */
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
