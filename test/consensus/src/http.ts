import { ClusterError } from "./errors.js";

export interface HttpResult {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

/**
 * One HTTP request with a JSON body (if any); never follows redirects, because a follower's 307
 * to the leader is an answer the tests look at. Network failures (peer down, connection reset)
 * throw ClusterError("http").
 */
export async function httpJson(
  method: "GET" | "POST" | "PUT" | "DELETE",
  url: string,
  body?: unknown,
  timeoutMs = 5_000,
): Promise<HttpResult> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
      ...(body === undefined
        ? {}
        : {
            headers: { "content-type": "application/json" },
            body: typeof body === "string" ? body : JSON.stringify(body),
          }),
    });
  } catch (err) {
    throw new ClusterError("http", `${method} ${url}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text().catch(() => "");
  let parsed: unknown = text;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (e.g. /metrics): keep the text.
    }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
