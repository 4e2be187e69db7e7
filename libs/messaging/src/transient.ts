import { JetStreamApiError, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import {
  type NatsConnection,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/nats-core";

/** JetStream's "system temporarily unavailable" (no meta leader yet, e.g. right after start). */
const JS_TEMPORARILY_UNAVAILABLE = 10008;

/**
 * Does this JetStream API failure say "not now" rather than "no"? A cluster that just started,
 * or is electing its meta leader, times out or has no responder for API requests for a while.
 */
export function isTransientApiError(err: unknown): boolean {
  if (err instanceof TimeoutError || err instanceof NoRespondersError) return true;
  if (err instanceof RequestError && err.isNoResponders()) return true;
  if (err instanceof RequestError && err.cause instanceof TimeoutError) return true;
  return err instanceof JetStreamApiError && err.code === JS_TEMPORARILY_UNAVAILABLE;
}

/**
 * Runs a JetStream API call, retrying transient failures (above) with backoff for up to
 * `budgetMs`; any other error, or the last transient one, is thrown as is. Provisioning at
 * start-up goes through this: many processes start with their NATS cluster, and one timed-out
 * request used to end a service's start (an agent exited on "cannot read its info: timeout").
 */
export async function withTransientRetry<T>(fn: () => Promise<T>, budgetMs = 30_000): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const waitMs = Math.min(2_000, 100 * 2 ** (attempt - 1));
      if (!isTransientApiError(err) || Date.now() + waitMs >= deadline) throw err;
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}

/**
 * The JetStream manager once the JetStream API answers. `jetstreamManager` first asks for the
 * account's JetStream info, which times out while a cluster that started with this process
 * elects its meta leader (every pod of a Helm install starts at once): that one request used to
 * end an agent's start, and left a consensus peer without ingestion for good.
 */
export function jetstreamManagerWhenReady(
  nc: NatsConnection,
  budgetMs?: number,
): Promise<JetStreamManager> {
  return withTransientRetry(() => jetstreamManager(nc), budgetMs);
}
