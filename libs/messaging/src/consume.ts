import type { Consumer, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  DrainingConnectionError,
  millis,
  type NatsConnection,
} from "@nats-io/nats-core";
import type { Logger } from "@tessera/observability";
import { ProtocolError } from "@tessera/protocol";
import { MessagingError } from "./errors.js";
import { nextWithDeadline } from "./fetch.js";
import { MessageContext, type WorkContext } from "./work-context.js";

export interface ConsumeOptions<T> {
  stream: string;
  durable: string;
  /** Bytes → validated message; a throw means "bad message": it is terminated, never retried. */
  decode: (bytes: Uint8Array) => T;
  /**
   * Do the work. Return → ack; throw → nak with backoff, except a ProtocolError → terminate
   * (unless the handler settled the message itself via the context).
   */
  handler: (message: T, ctx: WorkContext) => Promise<void>;
  /** Messages handled at once (default 1). Each slot pulls only when idle, so none waits in a buffer. */
  concurrency?: number;
  /** Automatic in-progress acks while a handler runs (default: ack wait / 3; 0 = off). */
  keepAliveMs?: number;
  /** Delay before redelivery after a handler throws (default 1 s · 2^(n-1), at most 30 s). */
  retryDelayMs?: (deliveryCount: number) => number;
  /** How long one pull waits for a message (default 2 s; bounds how fast stop() stops pulling). */
  pullExpiresMs?: number;
  logger?: Logger;
}

export interface ConsumerStats {
  delivered: number;
  acked: number;
  naked: number;
  terminated: number;
  /** Acks whose server confirmation did not arrive (the message may come back). */
  unconfirmedAcks: number;
}

export interface ConsumerHandle {
  readonly stats: Readonly<ConsumerStats>;
  /**
   * Stop pulling, let in-flight handlers finish for up to `graceMs` (default 30 s), then abort
   * and release (nak) whatever is still running. Resolves when no handler holds a message.
   * Closing/draining the connection is the caller's (see closeGracefully).
   */
  stop(graceMs?: number): Promise<void>;
  /** Resolves when the consumer has stopped. */
  readonly done: Promise<void>;
}

/** The connection behind a JetStream client (the implementation exposes it as `nc`). */
function connectionOf(js: JetStreamClient): NatsConnection | undefined {
  const nc = (js as { nc?: Partial<NatsConnection> }).nc;
  return typeof nc?.closed === "function" ? (nc as NatsConnection) : undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const defaultRetryDelay = (n: number) => Math.min(30_000, 1_000 * 2 ** Math.max(0, n - 1));

/**
 * Consume a durable pull consumer with validation at the door and explicit acks.
 * Guarantees: a message that fails `decode` is terminated and logged (never redelivered
 * forever, never crashes the loop); a handler that throws gets the message back later; long
 * handlers are kept alive with in-progress acks; pull errors (server down, leader elections)
 * are logged and retried, so the loop survives a node failure.
 */
export async function consume<T>(
  js: JetStreamClient,
  options: ConsumeOptions<T>,
): Promise<ConsumerHandle> {
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new MessagingError(
      "TESSERA_E_MESSAGING_ARGUMENT",
      `concurrency: must be an integer >= 1, got ${concurrency}`,
    );
  }
  const log = options.logger?.child({
    component: "consumer",
    stream: options.stream,
    durable: options.durable,
  });
  let consumer: Consumer;
  let ackWaitMs: number;
  try {
    consumer = await js.consumers.get(options.stream, options.durable);
    ackWaitMs = millis((await consumer.info(true)).config.ack_wait ?? 30_000_000_000);
  } catch (err) {
    throw new MessagingError(
      "TESSERA_E_MESSAGING_CONSUMER",
      `consumer ${options.stream}/${options.durable} is not available (provision it first): ${(err as Error).message}`,
      { cause: err },
    );
  }
  const keepAliveMs = options.keepAliveMs ?? Math.max(100, Math.floor(ackWaitMs / 3));
  const retryDelay = options.retryDelayMs ?? defaultRetryDelay;
  const expires = Math.max(1_000, options.pullExpiresMs ?? 2_000);
  const stats: ConsumerStats = {
    delivered: 0,
    acked: 0,
    naked: 0,
    terminated: 0,
    unconfirmedAcks: 0,
  };
  const inFlight = new Set<MessageContext>();
  let stopping = false;

  async function handle(ctx: MessageContext, data: Uint8Array): Promise<void> {
    let message: T;
    try {
      message = options.decode(data);
    } catch (err) {
      ctx.term((err as Error).message);
      stats.terminated++;
      log?.warn(
        { subject: ctx.subject, seq: ctx.streamSeq, reason: ctx.termReason },
        "terminated invalid message",
      );
      return;
    }
    const timer = keepAliveMs > 0 ? setInterval(() => ctx.inProgress(), keepAliveMs) : undefined;
    try {
      await options.handler(message, ctx);
      if (!ctx.settled) {
        if (await ctx.ack()) stats.acked++;
        else {
          stats.unconfirmedAcks++;
          log?.warn(
            { subject: ctx.subject, seq: ctx.streamSeq },
            "ack not confirmed; the message may be redelivered",
          );
        }
      } else countSettled(ctx);
    } catch (err) {
      if (!ctx.settled && err instanceof ProtocolError) {
        // A handler that finds the message itself invalid (e.g. a nested payload) gets the
        // same treatment as a decode failure: retrying a bad message can never succeed.
        ctx.term(err.message);
      } else if (!ctx.settled) {
        const delay = retryDelay(ctx.deliveryCount);
        ctx.nak(delay);
        log?.warn(
          {
            err,
            subject: ctx.subject,
            seq: ctx.streamSeq,
            delivery: ctx.deliveryCount,
            retryInMs: delay,
          },
          "handler failed; message released for retry",
        );
      }
      countSettled(ctx);
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  function countSettled(ctx: MessageContext): void {
    if (ctx.outcome === "nak") stats.naked++;
    if (ctx.outcome === "term") {
      stats.terminated++;
      log?.warn(
        { subject: ctx.subject, seq: ctx.streamSeq, reason: ctx.termReason },
        "handler terminated message",
      );
    }
  }

  async function slot(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      let msg: JsMsg | null;
      try {
        msg = await nextWithDeadline(consumer, { expiresMs: expires });
        failures = 0;
      } catch (err) {
        if (err instanceof ClosedConnectionError || err instanceof DrainingConnectionError) break;
        failures++;
        // Expected while a server restarts or a stream elects a leader; keep pulling.
        log?.warn({ err: (err as Error).message, failures }, "pull failed; retrying");
        await sleep(Math.min(2_000, 100 * 2 ** Math.min(failures, 5)));
        continue;
      }
      if (!msg) continue;
      stats.delivered++;
      if (stopping) {
        msg.nak(); // pulled during stop: hand it straight back
        stats.naked++;
        break;
      }
      const ctx = new MessageContext(msg, keepAliveMs || Math.max(100, Math.floor(ackWaitMs / 3)));
      inFlight.add(ctx);
      try {
        await handle(ctx, msg.data);
      } finally {
        inFlight.delete(ctx);
      }
    }
  }

  // A closed connection ends the consumer: nothing can be acked any more, so handlers are
  // told to stop (ctx.signal) and the server redelivers their messages after ack_wait.
  void connectionOf(js)
    ?.closed()
    .then(() => {
      if (stopping) return;
      stopping = true;
      for (const ctx of inFlight) ctx.abandon();
      log?.warn({ abandoned: inFlight.size }, "connection closed; consumer stopped");
    });

  const done = Promise.all(Array.from({ length: concurrency }, () => slot())).then(() => undefined);
  log?.info({ concurrency, ackWaitMs, keepAliveMs }, "consumer started");

  return {
    stats,
    done,
    async stop(graceMs = 30_000) {
      stopping = true;
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), graceMs);
      });
      const outcome = await Promise.race([done, graceOver]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        for (const ctx of inFlight) {
          ctx.release();
          stats.naked++;
        }
        log?.warn(
          { released: inFlight.size },
          "stop grace period over; released in-flight messages",
        );
      }
      log?.info({ stats }, "consumer stopped");
    },
  };
}
