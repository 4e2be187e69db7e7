import type { NodeId } from "@tessera/raft";
import { TransportArgumentError } from "./errors.js";

/**
 * Fault injection on one outgoing link (this peer → `to`). netem is unavailable on these
 * machines, so this is how cross-cloud latency and partitions are reproduced on one host.
 *
 * - delayMs: fixed one-way delay added to every message.
 * - jitterMs: each message gets an extra uniform offset in [-jitterMs, +jitterMs] (the total
 *   delay never goes below 0).
 * - lossRate: probability in [0, 1] that a message is silently dropped; 1 = partitioned link.
 *
 * Order within a link is preserved even with jitter: a message is never due before the one
 * queued ahead of it (due = max(previous due, now + delay + jitter)), as on a TCP path.
 */
export interface LinkFaults {
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly lossRate: number;
}

export const NO_FAULTS: LinkFaults = Object.freeze({ delayMs: 0, jitterMs: 0, lossRate: 0 });

/** Fault settings as configured: defaults for every link, overrides per peer id. */
export interface FaultsConfig {
  readonly default?: Partial<LinkFaults> | undefined;
  /** Keyed by peer id (a JSON config has string keys, so both forms are accepted). */
  readonly links?: Readonly<Record<string, Partial<LinkFaults>>> | undefined;
}

const MAX_DELAY_MS = 60_000;

function nonNegative(field: string, v: unknown, max: number): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || v > max) {
    throw new TransportArgumentError(field, `must be a number in [0, ${max}], got ${String(v)}`);
  }
  return v;
}

/** Validates a (partial) fault setting, filling missing fields from `base`. */
export function resolveFaults(
  f: Partial<LinkFaults> | undefined,
  base: LinkFaults = NO_FAULTS,
  field = "faults",
): LinkFaults {
  if (f === undefined) return base;
  if (f === null || typeof f !== "object") {
    throw new TransportArgumentError(field, "must be an object {delayMs, jitterMs, lossRate}");
  }
  return Object.freeze({
    delayMs: nonNegative(`${field}.delayMs`, f.delayMs ?? base.delayMs, MAX_DELAY_MS),
    jitterMs: nonNegative(`${field}.jitterMs`, f.jitterMs ?? base.jitterMs, MAX_DELAY_MS),
    lossRate: nonNegative(`${field}.lossRate`, f.lossRate ?? base.lossRate, 1),
  });
}

/** Parses a FaultsConfig into a default and per-link settings (validated). */
export function resolveFaultsConfig(c: FaultsConfig | undefined): {
  readonly defaults: LinkFaults;
  readonly links: ReadonlyMap<NodeId, LinkFaults>;
} {
  const defaults = resolveFaults(c?.default, NO_FAULTS, "faults.default");
  const links = new Map<NodeId, LinkFaults>();
  for (const [key, value] of Object.entries(c?.links ?? {})) {
    const id = Number(key);
    if (!Number.isSafeInteger(id) || id <= 0) {
      throw new TransportArgumentError(`faults.links.${key}`, "key must be a positive peer id");
    }
    links.set(id, resolveFaults(value, defaults, `faults.links.${key}`));
  }
  return { defaults, links };
}

export function isFaultFree(f: LinkFaults): boolean {
  return f.delayMs === 0 && f.jitterMs === 0 && f.lossRate === 0;
}

/** Whether the next message on a link with these faults is lost. */
export function shouldDrop(f: LinkFaults, random: () => number): boolean {
  return f.lossRate > 0 && (f.lossRate >= 1 || random() < f.lossRate);
}

/**
 * When a message enqueued `now` is due, given the previous message's due time on the same
 * link: never earlier than that one, which is what preserves order under jitter.
 */
export function nextDueTime(
  prevDue: number,
  now: number,
  f: LinkFaults,
  random: () => number,
): number {
  const jitter = f.jitterMs > 0 ? (random() * 2 - 1) * f.jitterMs : 0;
  return Math.max(prevDue, now + Math.max(0, f.delayMs + jitter));
}

/**
 * FIFO of items with due times that never decrease (see nextDueTime), bounded in length.
 * Pure: the caller passes the clock, so ordering is testable without timers.
 */
export class DelayQueue<T> {
  private items: { due: number; item: T }[] = [];
  private head = 0;
  private lastDue = 0;

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Due time of the first item, or undefined when empty. */
  peekDue(): number | undefined {
    return this.items[this.head]?.due;
  }

  /** Enqueues with the order-preserving due time; false (nothing queued) when full. */
  push(item: T, now: number, f: LinkFaults, random: () => number): boolean {
    if (this.length >= this.capacity) return false;
    const due = nextDueTime(this.length > 0 ? this.lastDue : 0, now, f, random);
    this.items.push({ due, item });
    this.lastDue = due;
    return true;
  }

  /** Removes and returns every item due at or before `now`, in order. */
  popDue(now: number): T[] {
    const out: T[] = [];
    while (this.head < this.items.length && this.items[this.head]!.due <= now) {
      out.push(this.items[this.head]!.item);
      this.head++;
    }
    // Compact occasionally so a long-lived link does not keep a growing dead prefix.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  clear(): number {
    const n = this.length;
    this.items = [];
    this.head = 0;
    return n;
  }
}
