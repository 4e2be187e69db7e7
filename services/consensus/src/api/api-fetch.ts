/**
 * The HTTP client of the peers' API for the CLI, the scheduler and the tests: fetch, with the
 * peers' certificate checked against `--api-ca` when the API is HTTPS with a private CA. Node's
 * own fetch takes no per-call CA, so with one this uses undici (the library Node's fetch is built
 * on) and a connection pool that trusts it; without one it is Node's fetch (the system's roots).
 * undici is loaded only then: the CLI starts for every command, and loading it costs ~0.1 s.
 */

/** What callers read of an answer (undici's Response and the global one both fit). */
export interface ApiResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  text(): Promise<string>;
  json(): Promise<unknown>;
}

export interface ApiRequest {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal;
  /** "manual": a 307 comes back as is (the CLI follows leader redirects itself). */
  readonly redirect?: "follow" | "manual";
}

export type ApiFetch = (url: string, request?: ApiRequest) => Promise<ApiResponse>;

/** A fetch for the peers' API; `caPem`: the CA their HTTPS certificate is checked against. */
export function apiFetcher(caPem?: string): ApiFetch {
  if (caPem === undefined) return (url, request = {}) => fetch(url, requestInit(request));
  const trusting = import("undici").then(({ Agent, fetch: undiciFetch }) => ({
    undiciFetch,
    dispatcher: new Agent({ connect: { ca: caPem } }),
  }));
  return async (url, request = {}) => {
    const { undiciFetch, dispatcher } = await trusting;
    return undiciFetch(url, { ...requestInit(request), dispatcher });
  };
}

function requestInit(request: ApiRequest) {
  return {
    ...(request.method !== undefined ? { method: request.method } : {}),
    ...(request.headers !== undefined ? { headers: { ...request.headers } } : {}),
    ...(request.body !== undefined ? { body: request.body } : {}),
    ...(request.signal !== undefined ? { signal: request.signal } : {}),
    ...(request.redirect !== undefined ? { redirect: request.redirect } : {}),
  };
}

/** Node's codes for a server certificate the client does not trust. */
const UNTRUSTED_CERTIFICATE = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * Why a request to `url` got no answer, for a person: the cause's code (ECONNREFUSED …) or
 * message, and for a certificate the client does not trust or plain HTTP sent to a peer serving
 * HTTPS, what to do about it.
 */
export function fetchFailureReason(err: unknown, url?: string): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  if (untrustedCertificate(err)) {
    return `${code}: the peer's HTTPS certificate is not trusted (--api-ca names the CA that signed it)`;
  }
  // An HTTPS server drops a plain request without answering it.
  if (code === "UND_ERR_SOCKET" && url?.startsWith("http://")) {
    return `${code}: closed without an answer (does it serve HTTPS? try ${url.replace("http://", "https://")})`;
  }
  if (code !== undefined) return code;
  if (typeof cause?.message === "string" && cause.message !== "") return cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** Whether a request failed because the client does not trust the server's certificate. */
export function untrustedCertificate(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  return typeof code === "string" && UNTRUSTED_CERTIFICATE.has(code);
}
