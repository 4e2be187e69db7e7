import type { NatsConnection, Status } from "@nats-io/nats-core";
import { connect as natsConnect } from "@nats-io/transport-node";
import type { Logger } from "@tessera/observability";
import { MessagingError } from "./errors.js";

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
  /** How long the first connect may take (default 10 s), retrying while servers start. */
  connectTimeoutMs?: number;
}

/**
 * Connect with reconnect-forever semantics: once connected, a connection never gives up
 * (maxReconnectAttempts = -1); outages are logged, not fatal. The first connect retries
 * until `connectTimeoutMs` so a service may start before its NATS cluster.
 */
export async function connect(options: ConnectOptions): Promise<NatsConnection> {
  const servers = typeof options.servers === "string" ? [options.servers] : [...options.servers];
  if (servers.length === 0) {
    throw new MessagingError(
      "TESSERA_E_MESSAGING_ARGUMENT",
      "connect: servers must name at least one URL",
    );
  }
  let nc: NatsConnection;
  try {
    nc = await natsConnect({
      servers,
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
      reconnectJitter: options.reconnectJitterMs ?? 250,
      waitOnFirstConnect: true,
      timeout: options.connectTimeoutMs ?? 10_000,
      // nats.js otherwise builds an Error (a stack capture) for every request and JetStream
      // publish up front, in case it fails: measurable CPU in the consensus leader and the
      // scheduler. Our errors carry their context (subject, ids) where we wrap them.
      noAsyncTraces: true,
    });
  } catch (err) {
    throw new MessagingError(
      "TESSERA_E_MESSAGING_CONNECT",
      `cannot connect to NATS at ${servers.join(",")}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (options.logger) void logStatus(nc, options.logger);
  return nc;
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

/** Stop everything gracefully: drain flushes publishes and lets subscriptions finish. */
export async function closeGracefully(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  await nc.drain().catch(() => nc.close());
}
