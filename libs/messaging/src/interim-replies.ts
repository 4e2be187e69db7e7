// Requests answered by several messages on one reply subject: interim answers, then a final one.
// nats.js `request` settles on the first reply, and `requestMany` ends on a count, a timer or an
// empty sentinel message, none of which is "until the answer says it is final". Like nats.js's
// own request multiplexing, one wildcard subscription on a private inbox serves every request
// (a token per request), so a request costs no SUB/UNSUB round of its own on the server.
import { createInbox, type Msg } from "@nats-io/nats-core";
import type { NatsConnection } from "./connection.js";
import { MessagingError } from "./errors.js";

/** How a request ended: its final reply, nobody listening on the subject, or no final reply in time. */
export type InterimRequestOutcome =
  | { readonly kind: "final"; readonly msg: Msg }
  | { readonly kind: "no-responders" }
  | { readonly kind: "timeout" };

export interface InterimRequestOptions {
  /** From the publish to the final reply. */
  timeoutMs: number;
  /** Each reply in turn: "interim" (handled, keep waiting) or "final" (the request is over). */
  classify: (msg: Msg) => "interim" | "final";
}

const NO_RESPONDERS = 503;

export class InterimReplies {
  private readonly prefix = createInbox();
  private readonly pending = new Map<string, (msg: Msg) => void>();
  private next = 0;
  private readonly sub: ReturnType<NatsConnection["subscribe"]>;

  constructor(private readonly nc: NatsConnection) {
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err) return;
        this.pending.get(msg.subject)?.(msg);
      },
    });
  }

  /** Publishes `payload` on `subject` and follows its replies until the final one. */
  request(
    subject: string,
    payload: Uint8Array,
    o: InterimRequestOptions,
  ): Promise<InterimRequestOutcome> {
    if (this.sub.isClosed()) {
      return Promise.reject(
        new MessagingError("TESSERA_E_MESSAGING_REQUEST", "the reply subscription is closed"),
      );
    }
    const reply = `${this.prefix}.${(this.next++).toString(36)}`;
    return new Promise<InterimRequestOutcome>((resolve, reject) => {
      const finish = (outcome: InterimRequestOutcome | Error) => {
        clearTimeout(timer);
        this.pending.delete(reply);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const timer = setTimeout(() => finish({ kind: "timeout" }), o.timeoutMs);
      this.pending.set(reply, (msg) => {
        if (msg.headers?.code === NO_RESPONDERS && msg.data.length === 0) {
          finish({ kind: "no-responders" });
          return;
        }
        try {
          if (o.classify(msg) === "final") finish({ kind: "final", msg });
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
        }
      });
      try {
        this.nc.publish(subject, payload, { reply });
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Stops following replies; requests still open end with their timeout. */
  close(): void {
    this.sub.unsubscribe();
  }
}
