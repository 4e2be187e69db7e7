// A bounded ring of the most recent committed event batches, kept on EVERY peer (not only the
// leader): a follower that becomes leader must be able to re-publish the batches its predecessor
// applied but had not yet published, and Watch clients on any peer read from it.
import { eventSubject } from "@tessera/protocol";
import type { ManifestEventOut } from "../state-machine.js";

/** One applied index's events, encoded once as the TESSERA_EVENTS message body. */
export interface EventBatchRecord {
  readonly index: number;
  readonly term: number;
  /** stampedAt of the entry (leader time, ms). */
  readonly at: number;
  /** tessera.evt.<category of the first event> */
  readonly subject: string;
  /** UTF-8 JSON ManifestEventBatchV1 {v:1, index, term, at, events}. */
  readonly body: Uint8Array;
}

export type EventBatchListener = (record: EventBatchRecord) => void;

const encoder = new TextEncoder();

/** Builds the TESSERA_EVENTS record for one applied index (events non-empty). */
export function eventBatchRecord(
  index: number,
  term: number,
  at: number,
  events: readonly ManifestEventOut[],
): EventBatchRecord {
  const first = events[0];
  if (!first) throw new RangeError(`event batch for index ${index} is empty`);
  // Each event is {category, type, ...fields}; the FSM's body already carries type and fields.
  const list = events.map((e) => ({
    category: e.category,
    ...(e.body as Record<string, unknown>),
  }));
  const body = encoder.encode(JSON.stringify({ v: 1, index, term, at, events: list }));
  return { index, term, at, subject: eventSubject(first.category), body };
}

export class EventRing {
  private readonly buf: (EventBatchRecord | undefined)[];
  private start = 0;
  private size = 0;
  private readonly listeners = new Set<EventBatchListener>();
  /** A fresh ring sits next to a fresh FSM: it has seen everything from index 1 on. */
  private covered = 1;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`event ring capacity must be a positive integer, got ${capacity}`);
    }
    this.buf = new Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Oldest index still held (undefined when empty). */
  get oldestIndex(): number | undefined {
    return this.size === 0 ? undefined : this.buf[this.start]?.index;
  }

  get newestIndex(): number | undefined {
    return this.size === 0
      ? undefined
      : this.buf[(this.start + this.size - 1) % this.capacity]?.index;
  }

  /**
   * Lowest index from which this ring holds EVERY event batch (indexes without events have none);
   * batches below it were applied before this process watched (snapshot, restart) or evicted.
   */
  get coveredFrom(): number {
    return this.covered;
  }

  /** The state machine was replaced by a snapshot at `index`: history before it is unknown. */
  reset(index: number): void {
    this.buf.fill(undefined);
    this.start = 0;
    this.size = 0;
    this.covered = index + 1;
  }

  /** Appends (indexes must increase; a repeat or older index is ignored) and notifies listeners. */
  push(record: EventBatchRecord): void {
    const newest = this.newestIndex;
    if (newest !== undefined && record.index <= newest) return;
    if (this.size < this.capacity) {
      this.buf[(this.start + this.size) % this.capacity] = record;
      this.size++;
    } else {
      const evicted = this.buf[this.start];
      if (evicted) this.covered = Math.max(this.coveredFrom, evicted.index + 1);
      this.buf[this.start] = record;
      this.start = (this.start + 1) % this.capacity;
    }
    for (const l of this.listeners) l(record);
  }

  /** Records with index >= from, oldest first. */
  since(from: number): EventBatchRecord[] {
    const out: EventBatchRecord[] = [];
    for (let i = 0; i < this.size; i++) {
      const r = this.buf[(this.start + i) % this.capacity];
      if (r && r.index >= from) out.push(r);
    }
    return out;
  }

  subscribe(listener: EventBatchListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
