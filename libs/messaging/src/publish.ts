import type { JetStreamClient } from "@nats-io/jetstream";
import { type NatsConnection, onNextReconnect } from "./connection.js";
import { MessagingError } from "./errors.js";

export interface PublishResult {
  stream: string;
  seq: number;
  /** True when the server dropped this publish as a repeat of `msgId` (nothing new stored). */
  duplicate: boolean;
}

export interface PublishOptions {
  /** Attempts before giving up (default 5). Safe because the server de-duplicates msgId. */
  attempts?: number;
  /** Per-attempt timeout (default 5 s). */
  timeoutMs?: number;
  /**
   * Store only if the stream's last sequence is this (Nats-Expected-Last-Sequence): a producer
   * that pipelines publishes gets a gap-free, in-order stream, because once one publish fails
   * every later one fails too (JetStream error 10071) instead of landing ahead of it.
   */
  expectLastSequence?: number;
  /**
   * The connection `js` publishes through: when it reconnects while an attempt waits for its
   * PubAck, the attempt is retried at once instead of waiting out its timeout (the server that
   * got it may have restarted and will never answer; a copy that did land is dropped by msgId).
   */
  retryOnReconnect?: NatsConnection;
}

class ReconnectedError extends Error {
  constructor() {
    super("the connection was re-established while waiting for the PubAck");
    this.name = "ReconnectedError";
  }
}

/** JetStream's "wrong last sequence" API error: an expectLastSequence publish was refused. */
export const WRONG_LAST_SEQUENCE = 10071;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Publish with a Nats-Msg-Id so a retried publish (ours, or a restarted producer's) is stored
 * once. Transient failures (timeouts, a stream electing a leader) are retried with backoff;
 * retrying is safe precisely because of the id, within the stream's duplicate window.
 */
export async function publishWithDedup(
  js: JetStreamClient,
  subject: string,
  payload: Uint8Array | string,
  msgId: string,
  options: PublishOptions = {},
): Promise<PublishResult> {
  if (!msgId)
    throw new MessagingError(
      "TESSERA_E_MESSAGING_ARGUMENT",
      `publish to ${subject}: msgId must be non-empty`,
    );
  const attempts = options.attempts ?? 5;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let cancel: (() => void) | undefined;
    try {
      const pending = js.publish(subject, payload, {
        msgID: msgId,
        timeout: options.timeoutMs ?? 5_000,
        ...(options.expectLastSequence === undefined
          ? {}
          : { expect: { lastSequence: options.expectLastSequence } }),
      });
      const nc = options.retryOnReconnect;
      let ack: Awaited<typeof pending>;
      if (nc) {
        pending.catch(() => undefined); // an abandoned attempt's late failure is nobody's news
        ack = await Promise.race([
          pending,
          new Promise<never>((_, reject) => {
            cancel = onNextReconnect(nc, () => reject(new ReconnectedError()));
          }),
        ]);
      } else {
        ack = await pending;
      }
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      lastError = err;
      if (attempt < attempts && !(err instanceof ReconnectedError))
        await sleep(Math.min(2_000, 100 * 2 ** (attempt - 1)));
    } finally {
      cancel?.();
    }
  }
  throw new MessagingError(
    "TESSERA_E_MESSAGING_PUBLISH",
    `publish to ${subject} (msgId ${msgId}) failed after ${attempts} attempts: ${(lastError as Error)?.message}`,
    { cause: lastError },
  );
}
