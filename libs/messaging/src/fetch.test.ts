// The pull deadline without a server: a fake consumer whose pull request is "lost" (its
// iterator never yields and never ends on its own), exactly what a dead consumer leader leaves.
import type { Consumer, ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { MessagingError } from "./errors.js";
import { fetchWithDeadline, nextWithDeadline } from "./fetch.js";

/** A pull that yields `msgs` and then hangs until stopped (stop(err) makes iteration throw). */
function fakeConsumer(msgs: JsMsg[]): { consumer: Consumer; stopped: () => boolean } {
  let stopped = false;
  const consumer = {
    fetch: async () => {
      let wake: (() => void) | undefined;
      let failure: Error | undefined;
      let closedResolve!: () => void;
      const closed = new Promise<void>((r) => {
        closedResolve = r;
      });
      const queue = [...msgs];
      const iter = {
        async *[Symbol.asyncIterator]() {
          for (;;) {
            const m = queue.shift();
            if (m) {
              yield m;
              continue;
            }
            await new Promise<void>((r) => {
              wake = r;
            });
            if (failure) throw failure;
            return;
          }
        },
        stop(err?: Error) {
          stopped = true;
          failure = err;
          wake?.();
          closedResolve();
        },
        closed: () => closed,
      };
      return iter as unknown as ConsumerMessages;
    },
  } as unknown as Consumer;
  return { consumer, stopped: () => stopped };
}

describe("pulls with a client-side deadline", () => {
  it("a lost pull ends with TESSERA_E_MESSAGING_PULL_STALLED instead of hanging forever", async () => {
    const { consumer, stopped } = fakeConsumer([]);
    const err = await nextWithDeadline(consumer, { expiresMs: 20, graceMs: 20 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MessagingError);
    expect((err as MessagingError).code).toBe("TESSERA_E_MESSAGING_PULL_STALLED");
    expect(stopped()).toBe(true);
  });

  it("messages that arrive before the deadline are delivered, then the stall is reported", async () => {
    const msg = { seq: 7 } as unknown as JsMsg;
    const { consumer } = fakeConsumer([msg]);
    expect(await nextWithDeadline(consumer, { expiresMs: 20, graceMs: 20 })).toBe(msg);

    const batch = fakeConsumer([msg, msg]);
    const seen: JsMsg[] = [];
    const iter = await fetchWithDeadline(batch.consumer, {
      maxMessages: 4,
      expiresMs: 20,
      graceMs: 20,
    });
    const err = await (async () => {
      for await (const m of iter) seen.push(m);
    })().catch((e: unknown) => e);
    expect(seen).toHaveLength(2);
    expect((err as MessagingError).code).toBe("TESSERA_E_MESSAGING_PULL_STALLED");
  });
});
