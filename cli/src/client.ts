// HTTP client of the consensus peers' API. `--server` names any peer (or several, comma-separated);
// writes sent to a follower come back as 307 (Location: the leader) or 503 with a leader hint, and
// are re-sent there. When no peer answers at all the error says which URLs were tried.

import { randomBytes } from "node:crypto";
import { API_CA_ENV, API_TOKEN_ENV, bearerHeader, readApiCa, readApiToken } from "@tessera/config";
import {
  type ApiFetch,
  type ApiResponse,
  apiFetcher,
  fetchFailureReason,
} from "@tessera/consensus/api-fetch";

export class CliError extends Error {
  constructor(
    message: string,
    /** Process exit status for this failure. */
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export interface HttpResult {
  readonly status: number;
  readonly body: unknown;
  /** The URL that finally answered. */
  readonly url: string;
}

export interface ClientOptions {
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
  /** How long to keep retrying while no leader is known / peers are unreachable (default 10 s). */
  readonly retryForMs?: number;
  /**
   * The HTTP API's bearer token (peers started with --api-token-file). Default: the file
   * $TESSERA_API_TOKEN_FILE names, so every client in such a shell (the CLI, benches) sends it.
   */
  readonly token?: string;
  /**
   * The CA (PEM) the peers' HTTPS certificate is checked against (peers started with
   * --api-tls-cert). Default: the file $TESSERA_API_CA names, else the system's roots.
   */
  readonly ca?: string;
}

/**
 * The file `path` names (a flag), else the one the variable `envName` names, read by `read`; a
 * file it refuses is a usage error naming the flag (and the variable, when it came from there).
 */
function flagOrEnvFile<T>(
  path: string | undefined,
  env: NodeJS.ProcessEnv,
  envName: string,
  read: (file: string, fail: (flag: string, reason: string) => never) => T,
): T | undefined {
  const file = path ?? (env[envName] || undefined);
  if (file === undefined) return undefined;
  return read(file, (flag, reason) => {
    throw new CliError(`--${flag}${path === undefined ? ` ($${envName})` : ""}: ${reason}`, 2);
  });
}

/** The token in `path` (`--api-token-file`), or in the file $TESSERA_API_TOKEN_FILE names. */
export function apiToken(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  return flagOrEnvFile(path, env, API_TOKEN_ENV, readApiToken);
}

/** The CA in `path` (`--api-ca`), or in the file $TESSERA_API_CA names; checked to be one. */
export function apiCa(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  return flagOrEnvFile(path, env, API_CA_ENV, (file, fail) => readApiCa(file, fail));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Validates and normalises `--server` (comma-separated http(s) URLs, no trailing slash). */
export function parseServers(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(",")) {
    const s = part.trim();
    if (s === "") continue;
    const withScheme = /^[a-z]+:\/\//i.test(s) ? s : `http://${s}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new CliError(
        `--server: ${JSON.stringify(s)} is not a URL (e.g. http://127.0.0.1:8001)`,
        2,
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new CliError(`--server: ${JSON.stringify(s)} must be an http(s) URL`, 2);
    }
    out.push(url.origin);
  }
  if (out.length === 0) throw new CliError("--server: must name at least one URL", 2);
  return out;
}

function leaderHint(body: unknown): string | undefined {
  const leader = (body as { error?: { leader?: { http?: unknown } } })?.error?.leader;
  return typeof leader?.http === "string" ? leader.http.replace(/\/$/, "") : undefined;
}

/** Error message of an API error body `{error:{code,message}}` (or the status). */
export function apiErrorMessage(r: HttpResult): string {
  const e = (r.body as { error?: { code?: unknown; message?: unknown } })?.error;
  if (e && typeof e.message === "string") {
    return typeof e.code === "string" ? `${e.code}: ${e.message}` : e.message;
  }
  return `HTTP ${r.status} from ${r.url}`;
}

export class ClusterClient {
  private readonly servers: string[];
  private preferred: string | undefined;
  private readonly timeoutMs: number;
  private readonly retryForMs: number;
  readonly clientId = `cli-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  private seq = 0;

  /** What every request carries: the bearer token, when there is one. */
  readonly authHeaders: Readonly<Record<string, string>>;
  /** fetch for the peers' API (trusting `ca` for an HTTPS API with a private CA). */
  readonly fetch: ApiFetch;

  constructor(servers: readonly string[], options: ClientOptions = {}) {
    this.servers = [...servers];
    this.authHeaders = bearerHeader(options.token ?? apiToken(undefined));
    this.fetch = apiFetcher(options.ca ?? apiCa(undefined));
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retryForMs = options.retryForMs ?? 10_000;
  }

  /**
   * Sends a request to the preferred peer, then the others; follows leader redirects (307 /
   * 503 + hint). Resolves with the first answer that is not a redirect or an "unavailable"
   * (those are retried until `retryForMs`); throws CliError when no peer answers.
   */
  async request(
    method: "GET" | "POST" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<HttpResult> {
    const startedAt = Date.now();
    const deadline = startedAt + this.retryForMs;
    const failures = new Map<string, string>();
    let last: HttpResult | undefined;
    // Some peer answered (if only with a redirect to a leader that did not): the cluster runs.
    let answered = false;
    for (let round = 0; ; round++) {
      const order = [
        ...(this.preferred ? [this.preferred] : []),
        ...this.servers.filter((s) => s !== this.preferred),
      ];
      for (let i = 0; i < order.length; i++) {
        let base = order[i]!;
        for (let hop = 0; hop < 4; hop++) {
          let res: ApiResponse;
          try {
            res = await this.fetch(`${base}${path}`, {
              method,
              redirect: "manual",
              signal: AbortSignal.timeout(this.timeoutMs),
              ...(body !== undefined
                ? {
                    body: JSON.stringify(body),
                    headers: { ...this.authHeaders, "content-type": "application/json" },
                  }
                : { headers: this.authHeaders }),
            });
          } catch (err) {
            const why = fetchFailureReason(err, base);
            failures.set(base, why);
            break;
          }
          answered = true;
          const text = await res.text();
          let parsed: unknown = text;
          try {
            parsed = text === "" ? null : JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          const result: HttpResult = { status: res.status, body: parsed, url: `${base}${path}` };
          const location = res.headers.get("location");
          if ((res.status === 307 || res.status === 308) && location) {
            base = new URL(location, base).origin;
            continue;
          }
          const hint = leaderHint(parsed);
          if (res.status === 503 && hint && hint !== base) {
            base = hint;
            continue;
          }
          if (res.status === 503 || res.status === 504) {
            // No leader yet / election in progress: remember and retry this round's next peer.
            last = result;
            failures.set(base, apiErrorMessage(result));
            break;
          }
          this.preferred = base;
          return result;
        }
      }
      // Refused connections everywhere: nothing is running, so give up sooner than when a peer
      // answered "no leader yet" or pointed at a leader that is gone (the followers name it
      // until they elect another: a second or two).
      const running = last !== undefined || answered;
      if (Date.now() >= (running ? deadline : Math.min(deadline, startedAt + 2_000))) break;
      await sleep(Math.min(1_000, 100 * 2 ** round));
    }
    if (last) {
      throw new CliError(`the cluster did not answer ${method} ${path}: ${apiErrorMessage(last)}`);
    }
    const tried = [...failures.entries()].map(([s, why]) => `${s} (${why})`).join(", ");
    if (answered) {
      throw new CliError(
        `the cluster did not answer ${method} ${path}: its peers sent it to a leader that did not answer; tried ${tried}`,
      );
    }
    throw new CliError(
      `no Tessera server answered ${method} ${path}; tried ${tried || this.servers.join(", ")}. ` +
        "Start one with `tessera dev up` or pass --server URL of a consensus peer.",
    );
  }

  /** GET that must succeed (2xx); throws CliError with the API's message otherwise. */
  async get(path: string): Promise<unknown> {
    const r = await this.request("GET", path);
    if (r.status < 200 || r.status >= 300) throw new CliError(apiErrorMessage(r));
    return r.body;
  }

  /** POST that must succeed (2xx); throws CliError with the API's message otherwise. */
  async post(path: string, body?: unknown): Promise<unknown> {
    const r = await this.request("POST", path, body ?? {});
    if (r.status < 200 || r.status >= 300) throw new CliError(apiErrorMessage(r));
    return r.body;
  }

  /** DELETE that must succeed (2xx); throws CliError with the API's message otherwise. */
  async delete(path: string): Promise<unknown> {
    const r = await this.request("DELETE", path);
    if (r.status < 200 || r.status >= 300) throw new CliError(apiErrorMessage(r));
    return r.body;
  }

  /** Proposes one manifest command in this CLI process's own session (POST /v1/commands). */
  async command(cmd: Record<string, unknown> & { type: string }): Promise<unknown> {
    const seq = ++this.seq;
    return this.post("/v1/commands", {
      v: 1,
      clientId: this.clientId,
      seq,
      ackedSeq: seq - 1,
      cmd,
    });
  }
}
