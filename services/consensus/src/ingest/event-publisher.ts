// Leader-only: publishes each applied index's event batch on TESSERA_EVENTS with
// Nats-Msg-Id = String(index). On becoming leader it first re-publishes the tail its predecessor
// may not have published (from the event ring every peer keeps); JetStream's duplicate window
// drops the ones that were stored already, so "at least once" here is "exactly once" in the stream.
import type { JetStreamClient, JetStreamManager } from "@tessera/messaging";
import { publishWithDedup } from "@tessera/messaging";
import type { Logger } from "@tessera/observability";
import { EVENTS_STREAM } from "@tessera/protocol";
import type { ConsensusMetrics } from "../api/metrics.js";
import type { EventBatchRecord, EventRing } from "./event-ring.js";

export interface EventPublisherOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  ring: EventRing;
  metrics: ConsensusMetrics;
  logger: Logger;
  /** Publishes in flight at once (order of submission is kept on one connection). */
  window?: number;
  /**
   * On takeover, re-publish from this many indexes below the last one found in the stream: a
   * pipelined predecessor may have left holes just below its last stored message.
   */
  rewind?: number;
}

const STREAM_NOT_FOUND = 10059;

export class EventPublisher {
  private readonly queue: EventBatchRecord[] = [];
  private inFlight = 0;
  private running = false;
  private unsubscribe: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  private lastQueued = 0;
  private resyncing = false;
  private failed = false;
  private readonly live: EventBatchRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly window: number;
  private readonly rewind: number;
  private readonly log: Logger;

  constructor(private readonly o: EventPublisherOptions) {
    this.window = o.window ?? 64;
    this.rewind = o.rewind ?? 1024;
    this.log = o.logger.child({ component: "event-publisher" });
  }

  /** Highest index handed to JetStream so far in this leadership term. */
  get lastPublishedIndex(): number {
    return this.lastQueued;
  }

  /** Call on becoming leader. Re-publishes the ring's unpublished tail, then follows the ring. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    // Follow the ring at once (buffering during a resync) so nothing applied is missed.
    this.unsubscribe = this.o.ring.subscribe((r) => {
      if (this.resyncing) this.live.push(r);
      else this.enqueue(r);
    });
    await this.resync();
    // A failed publish (NATS down, stream leader election) is repaired by re-reading the
    // stream's last index and re-publishing from there once the queue has drained.
    this.timer = setInterval(() => {
      if (this.failed && this.inFlight === 0 && !this.resyncing && this.running) {
        this.failed = false;
        void this.resync();
      }
    }, 1_000);
  }

  /** Finds the last index in TESSERA_EVENTS and (re-)publishes the ring from a little below it. */
  private async resync(): Promise<void> {
    this.resyncing = true;
    let last = 0;
    try {
      last = await this.lastIndexInStream();
    } catch (err) {
      this.log.warn({ err }, "cannot read the last published index; re-publishing the whole ring");
    }
    this.resyncing = false;
    if (!this.running) return;
    const from = Math.max(1, last - this.rewind + 1);
    const oldest = this.o.ring.oldestIndex;
    if (oldest !== undefined && last > 0 && oldest > last + 1) {
      this.log.warn(
        { lastInStream: last, oldestInRing: oldest },
        "event ring does not reach back to the last published index; indexes in between are not re-published (read the manifest to repair)",
      );
    }
    const tail = this.o.ring.since(from);
    this.log.info(
      { lastInStream: last, republishFrom: from, count: tail.length },
      "event publisher (re)synchronised with TESSERA_EVENTS",
    );
    this.lastQueued = Math.min(this.lastQueued, from - 1);
    for (const r of tail) this.enqueue(r);
    for (const r of this.live.splice(0)) this.enqueue(r);
  }

  /**
   * Call on losing leadership / shutdown: stops following; waits (at most `graceMs`) for
   * in-flight publishes. Whatever is not confirmed is re-published by the next leader.
   */
  async stop(graceMs = 2_000): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.live.length = 0;
    this.failed = false;
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => this.idleWaiters.push(r)),
        new Promise<void>((r) => {
          timer = setTimeout(r, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.lastQueued = 0;
  }

  private enqueue(r: EventBatchRecord): void {
    if (!this.running || r.index <= this.lastQueued) return;
    this.lastQueued = r.index;
    this.queue.push(r);
    this.pump();
  }

  private pump(): void {
    while (this.running && this.inFlight < this.window && this.queue.length > 0) {
      const r = this.queue.shift() as EventBatchRecord;
      this.inFlight++;
      publishWithDedup(this.o.js, r.subject, r.body, String(r.index))
        .then(
          (ack) =>
            this.o.metrics.eventsPublished.inc({ outcome: ack.duplicate ? "duplicate" : "stored" }),
          (err: unknown) => {
            this.o.metrics.eventsPublished.inc({ outcome: "error" });
            this.failed = true;
            // The batch stays in every peer's ring: a resync (or the next leader) re-publishes it.
            this.log.error(
              { err, index: r.index, subject: r.subject },
              "event batch not published",
            );
          },
        )
        .finally(() => {
          this.inFlight--;
          if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
          this.pump();
        });
    }
  }

  /** Nats-Msg-Id of the newest message in TESSERA_EVENTS (= the last published index), or 0. */
  private async lastIndexInStream(): Promise<number> {
    let lastSeq: number;
    try {
      lastSeq = (await this.o.jsm.streams.info(EVENTS_STREAM.name)).state.last_seq;
    } catch (err) {
      if ((err as { code?: unknown }).code === STREAM_NOT_FOUND) return 0;
      throw err;
    }
    if (!lastSeq) return 0;
    const msg = await this.o.jsm.streams.getMessage(EVENTS_STREAM.name, { seq: lastSeq });
    const id = Number(msg?.header?.get("Nats-Msg-Id"));
    return Number.isSafeInteger(id) && id > 0 ? id : 0;
  }
}
