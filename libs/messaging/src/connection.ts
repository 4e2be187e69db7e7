import type { NatsConnection, Status } from "@nats-io/nats-core";
import { AuthorizationError } from "@nats-io/nats-core";
import { connect as natsConnect } from "@nats-io/transport-node";
import type { NatsSecurity } from "@tessera/config";
import type { Logger } from "@tessera/observability";
import { MessagingError } from "./errors.js";
import { natsSecurityOptions } from "./nats-security.js";

export type { NatsConnection } from "@nats-io/nats-core";

export interface ConnectOptions {
  /** One URL or every cluster member's URL. */
  servers: string | readonly string[];
  /** Connection name shown by `nats server report connections` (e.g. `agent:node-1`). */
  name: string;
  logger?: Logger;
  /** Base wait between reconnect attempts (default 250 ms); jitter is added on top. */
  reconnectTimeWaitMs?: number;
  /** Random extra wait per attempt (default 250 ms) so a fleet does not reconnect in lockstep. */
  reconnectJitterMs?: number;
  /**
   * How long the first connect may take, retrying while servers start (default 10 s; 0 = until
   * one answers). After that it fails with TESSERA_E_MESSAGING_CONNECT naming the servers.
   */
  connectTimeoutMs?: number;
  /** Credentials and TLS (file paths; @tessera/config `--nats-creds` … `--nats-tls-key`). */
  security?: NatsSecurity;
}

/** One attempt at most this long: a black-holed address must not eat the whole budget. */
const ATTEMPT_TIMEOUT_MS = 5_000;

/**
 * Connect with reconnect-forever semantics: once connected, a connection never gives up
 * (maxReconnectAttempts = -1); outages are logged, not fatal. The FIRST connect is retried here,
 * one attempt after another until `connectTimeoutMs`, so a service may start before its NATS
 * cluster and a wrong URL still ends in an error instead of a silent wait (nats.js's own
 * `waitOnFirstConnect` retries forever and cannot be cancelled).
 */
export async function connect(options: ConnectOptions): Promise<NatsConnection> {
  const servers = typeof options.servers === "string" ? [options.servers] : [...options.servers];
  if (servers.length === 0) {
    throw new MessagingError(
      "TESSERA_E_MESSAGING_ARGUMENT",
      "connect: servers must name at least one URL",
    );
  }
  // Files are read and checked once, before any attempt: a bad one fails now, naming its flag.
  const security = natsSecurityOptions(
    options.security ?? {},
    servers.some((s) => s.startsWith("tls://")),
  );
  const budgetMs = options.connectTimeoutMs ?? 10_000;
  const deadline = budgetMs === 0 ? Number.POSITIVE_INFINITY : Date.now() + budgetMs;
  const waitMs = options.reconnectTimeWaitMs ?? 250;
  let nc: NatsConnection | undefined;
  for (let attempt = 1; nc === undefined; attempt++) {
    try {
      nc = await natsConnect({
        servers,
        name: options.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: waitMs,
        reconnectJitter: options.reconnectJitterMs ?? 250,
        timeout: Math.max(1, Math.min(ATTEMPT_TIMEOUT_MS, deadline - Date.now())),
        // nats.js otherwise builds an Error (a stack capture) for every request and JetStream
        // publish up front, in case it fails: measurable CPU in the consensus leader and the
        // scheduler. Our errors carry their context (subject, ids) where we wrap them.
        noAsyncTraces: true,
        ...security,
      });
    } catch (err) {
      // Refused credentials or a certificate that does not verify stay so: say it at once.
      const refusal = permanentRefusal(err);
      if (refusal !== undefined) {
        throw new MessagingError(
          "TESSERA_E_MESSAGING_AUTH",
          `NATS at ${servers.join(",")} refused this connection: ${refusal}`,
          { cause: err },
        );
      }
      if (Date.now() + waitMs >= deadline) {
        throw new MessagingError(
          "TESSERA_E_MESSAGING_CONNECT",
          `cannot connect to NATS at ${servers.join(",")}: ${(err as Error).message} (${attempt} attempt${attempt === 1 ? "" : "s"} in ${budgetMs} ms)`,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
  trackConnected(nc);
  if (options.logger) void logStatus(nc, options.logger);
  return nc;
}

/** Connections of ours that lost their server and are trying to reconnect. */
const disconnected = new WeakSet<NatsConnection>();

function trackConnected(nc: NatsConnection): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") disconnected.add(nc);
      else if (s.type === "reconnect") disconnected.delete(nc);
    }
  })().catch(() => undefined);
}

/** Why a connect failed for good (credentials, TLS verification), or undefined if it may pass. */
function permanentRefusal(err: unknown): string | undefined {
  if (err instanceof AuthorizationError) return `${err.message} (check the NATS credentials)`;
  const code = (err as { code?: unknown; cause?: { code?: unknown } } | null)?.code;
  const causeCode = (err as { cause?: { code?: unknown } } | null)?.cause?.code;
  const tlsCode = [code, causeCode].find(
    (c): c is string =>
      typeof c === "string" && /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)|TLS|SSL/.test(c),
  );
  if (tlsCode !== undefined)
    return `${(err as Error).message} (${tlsCode}: check --nats-tls-ca and the server's certificate)`;
  return undefined;
}

/** Reconnect listeners per connection; one status watch per connection serves them all. */
const reconnectListeners = new WeakMap<NatsConnection, Set<() => void>>();

/**
 * Calls `cb` at every reconnect of `nc` (a restarted server, or a move to another cluster
 * member) until the returned function cancels it. Consumers and requests from before the outage
 * may be gone without an error: this is where their owners start again.
 */
export function onReconnect(nc: NatsConnection, cb: () => void): () => void {
  let listeners = reconnectListeners.get(nc);
  if (!listeners) {
    const created = new Set<() => void>();
    reconnectListeners.set(nc, created);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "reconnect") for (const f of [...created]) f();
      }
    })().catch(() => undefined);
    listeners = created;
  }
  const set = listeners;
  const listener = () => cb();
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

/** `onReconnect`, once: e.g. stop waiting for a reply the restarted server will never send. */
export function onNextReconnect(nc: NatsConnection, cb: () => void): () => void {
  const cancel = onReconnect(nc, () => {
    cancel();
    cb();
  });
  return cancel;
}

async function logStatus(nc: NatsConnection, logger: Logger): Promise<void> {
  const log = logger.child({ component: "nats" });
  log.info({ server: nc.getServer() }, "nats connected");
  for await (const s of nc.status()) logOne(log, s);
}

function logOne(log: Logger, s: Status): void {
  switch (s.type) {
    case "ping":
    case "update":
      log.debug({ status: s }, `nats ${s.type}`);
      return;
    case "reconnect":
    case "close":
      log.info({ status: s }, `nats ${s.type}`);
      return;
    default:
      log.warn({ status: s }, `nats ${s.type}`);
  }
}

/** How long a drain may take before the connection is simply closed. */
const DRAIN_BUDGET_MS = 3_000;

/**
 * Stop everything gracefully: drain flushes publishes and lets subscriptions finish. Without a
 * server (a cluster being uninstalled with its clients) there is nothing to flush to, and
 * nats.js's drain and flush would wait on the reconnect attempts (6–7 s each against an address
 * that went away): such a connection is closed at once, and any drain is cut off after 3 s.
 */
export async function closeGracefully(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  if (disconnected.has(nc)) {
    await nc.close();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const cutOff = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, DRAIN_BUDGET_MS);
  });
  await Promise.race([nc.drain().catch(() => undefined), cutOff]);
  clearTimeout(timer);
  if (!nc.isClosed()) await nc.close();
}
