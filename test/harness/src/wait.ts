import { connect as netConnect } from "node:net";
import { HarnessError } from "./errors.js";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `probe` every `intervalMs` until it returns true; HarnessError on timeout. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 50,
  abort?: () => Error | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const aborted = abort?.();
    if (aborted) throw aborted;
    if (await probe().catch(() => false)) return;
    if (Date.now() >= deadline) {
      throw new HarnessError(
        "TESSERA_E_HARNESS_TIMEOUT",
        `timed out after ${timeoutMs} ms waiting for ${what}`,
      );
    }
    await sleep(intervalMs);
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number, host = "127.0.0.1", timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** GET a monitoring endpoint; undefined when the server is not answering. */
export async function getJson(url: string, timeoutMs = 1000): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    return (await res.json()) as unknown;
  } catch {
    return undefined;
  }
}

/** The /jsz summary of one server: stream/consumer/message counts of the replicas it holds. */
export async function getJsz(
  monitorPort: number,
  host = "127.0.0.1",
): Promise<{ streams: number; consumers: number; messages: number } | undefined> {
  return (await getJson(`http://${host}:${monitorPort}/jsz`)) as
    | { streams: number; consumers: number; messages: number }
    | undefined;
}

/** The JetStream meta leader's name as this server sees it ("" when none). */
export async function metaLeader(monitorPort: number, host = "127.0.0.1"): Promise<string> {
  const jsz = (await getJson(`http://${host}:${monitorPort}/jsz`)) as
    | { meta_cluster?: { leader?: string } }
    | undefined;
  return jsz?.meta_cluster?.leader ?? "";
}

/** True when /healthz says the server (and JetStream) is healthy. */
export async function isHealthy(monitorPort: number, host = "127.0.0.1"): Promise<boolean> {
  const body = (await getJson(`http://${host}:${monitorPort}/healthz`)) as
    | { status?: string }
    | undefined;
  return body?.status === "ok";
}
