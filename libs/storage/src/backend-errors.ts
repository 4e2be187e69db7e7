import { StorageBackendError, StorageUnavailableError } from "./errors.js";

/** Transport-level failures (no HTTP answer at all) that a retry can fix. */
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
  "SlowDown",
  "ThrottlingException",
  "InternalError",
  "ServiceUnavailable",
]);

export interface HttpErrorShape {
  readonly status: number | undefined;
  readonly name: string;
  readonly code: string | undefined;
}

/** Reads the HTTP status and error name from an AWS SDK / Google client / Node error. */
export function httpShape(err: unknown): HttpErrorShape {
  if (typeof err !== "object" || err === null)
    return { status: undefined, name: "", code: undefined };
  const e = err as {
    $metadata?: { httpStatusCode?: unknown };
    name?: unknown;
    code?: unknown;
    Code?: unknown;
  };
  const status =
    typeof e.$metadata?.httpStatusCode === "number"
      ? e.$metadata.httpStatusCode
      : typeof e.code === "number"
        ? e.code
        : undefined;
  const name = typeof e.name === "string" ? e.name : "";
  const code =
    typeof e.code === "string" ? e.code : typeof e.Code === "string" ? e.Code : undefined;
  return { status, name, code };
}

export function isNotFound(err: unknown): boolean {
  const { status, name, code } = httpShape(err);
  return status === 404 || name === "NoSuchKey" || name === "NotFound" || code === "NoSuchKey";
}

/** 412 (If-None-Match failed) or 409 (concurrent conditional write in flight). */
export function isPreconditionFailed(err: unknown): boolean {
  const { status, name } = httpShape(err);
  return (
    status === 412 ||
    status === 409 ||
    name === "PreconditionFailed" ||
    name === "ConditionalRequestConflict"
  );
}

/** Maps an unexpected backend failure onto the catalogue: transient → retryable, else not. */
export function mapBackendError(
  backend: string,
  operation: string,
  key: string | undefined,
  err: unknown,
): Error {
  const { status, name, code } = httpShape(err);
  const transient =
    (status !== undefined && (status >= 500 || status === 429 || status === 408)) ||
    TRANSIENT_CODES.has(name) ||
    (code !== undefined && TRANSIENT_CODES.has(code)) ||
    (status === undefined && name === "AbortError");
  return transient
    ? new StorageUnavailableError(backend, operation, key, { cause: err })
    : new StorageBackendError(backend, operation, key, { cause: err });
}
