// Pull requests with a client-side deadline.
//
// Why: a fetch normally ends by itself (the server answers 408 when `expires` passes, or the
// client's idle-heartbeat monitor gives up after two missed heartbeats). When a JetStream cluster
// member dies, neither is guaranteed: the pull request can die with the consumer's old leader,
// and a reconnect cancels the heartbeat monitor, which is only restarted if a consumer-info call
// succeeds — not while the meta leader is being re-elected. The fetch then waits forever and the
// process silently stops taking work (seen in the e2e NATS-member-kill test with nats-server
// 2.9). A local timer bounds every pull, so a lost pull costs seconds, never the job.
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { MessagingError } from "./errors.js";

export interface BoundedFetchOptions {
  /** Messages at most in this pull (default 1). */
  readonly maxMessages?: number;
  /** How long the server holds the pull open (ms, ≥ 1,000). */
  readonly expiresMs: number;
  /** Extra time past `expiresMs` before the pull is declared lost (default max(5 s, expiresMs)). */
  readonly graceMs?: number;
}

/**
 * `consumer.fetch` whose iterator is stopped with a TESSERA_E_MESSAGING_PULL_STALLED error when
 * it has not ended `graceMs` after `expiresMs`. Messages not yet yielded when that happens were
 * never acked, so the server redelivers them after ack_wait: nothing is lost.
 */
export async function fetchWithDeadline(
  consumer: Consumer,
  o: BoundedFetchOptions,
): Promise<ConsumerMessages> {
  return (await boundedFetch(consumer, o)).messages;
}

/** One message or null (the pull expired empty), bounded like {@link fetchWithDeadline}. */
export async function nextWithDeadline(
  consumer: Consumer,
  o: Omit<BoundedFetchOptions, "maxMessages">,
): Promise<JsMsg | null> {
  const { messages, clearDeadline } = await boundedFetch(consumer, { ...o, maxMessages: 1 });
  try {
    for await (const m of messages) return m;
    return null;
  } finally {
    // Leaving the loop early does not close the iterator at once, so stop the timer here.
    clearDeadline();
  }
}

async function boundedFetch(
  consumer: Consumer,
  o: BoundedFetchOptions,
): Promise<{ messages: ConsumerMessages; clearDeadline: () => void }> {
  const graceMs = o.graceMs ?? Math.max(5_000, o.expiresMs);
  const messages = await consumer.fetch({
    max_messages: o.maxMessages ?? 1,
    expires: o.expiresMs,
  });
  const watchdog = setTimeout(() => {
    messages.stop(
      new MessagingError(
        "TESSERA_E_MESSAGING_PULL_STALLED",
        `pull did not end within ${o.expiresMs + graceMs} ms (expires ${o.expiresMs} ms): the pull request was lost; pull again`,
      ),
    );
  }, o.expiresMs + graceMs);
  watchdog.unref();
  const clearDeadline = () => clearTimeout(watchdog);
  messages.closed().then(clearDeadline, clearDeadline);
  return { messages, clearDeadline };
}
