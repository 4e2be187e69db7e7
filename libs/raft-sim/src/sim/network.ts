import { InvalidSimOptionError } from "../errors.js";
import type { Rng } from "../rng.js";

/** Per-message fault rates. Delays are in simulation steps; a message is never delivered in the step it was sent. */
export interface LinkFaults {
  /** Probability that a message is silently lost. */
  readonly dropRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  readonly duplicateRate: number;
  /** Delay range in steps, inclusive; random delays reorder messages. */
  readonly minDelay: number;
  readonly maxDelay: number;
}

export const RELIABLE: LinkFaults = { dropRate: 0, duplicateRate: 0, minDelay: 1, maxDelay: 1 };

export interface Routable {
  readonly from: number;
  readonly to: number;
}

/** Why a message did not arrive, so the host can report it to the sender like a transport would. */
export type DropReason = "loss" | "partition";

/**
 * A simulated network between numbered endpoints, driven by one Rng.
 *
 * Messages wait in a ring of per-step buckets (O(1) send and delivery, no sorting). Partitions are
 * a set of blocked directed links, checked at delivery time: a message in flight when a partition
 * starts is lost, as on a real network. Blocking only one direction gives asymmetric partitions.
 */
export class SimNetwork<M extends Routable> {
  private faults: LinkFaults = RELIABLE;
  private ring: M[][];
  private readonly blocked = new Set<number>();
  private inFlight = 0;
  /** Counters, for reports and for tests that assert faults really happened. */
  readonly stats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, blockedByPartition: 0 };

  constructor(
    private readonly rng: Rng,
    private readonly maxDelayBound = 64,
  ) {
    this.ring = Array.from({ length: maxDelayBound + 1 }, () => []);
  }

  setFaults(f: LinkFaults): void {
    if (f.minDelay < 1 || f.maxDelay < f.minDelay || f.maxDelay > this.maxDelayBound) {
      throw new InvalidSimOptionError(
        "link.maxDelay",
        `delays must satisfy 1 <= minDelay <= maxDelay <= ${this.maxDelayBound}, got ${f.minDelay}..${f.maxDelay}`,
      );
    }
    for (const k of ["dropRate", "duplicateRate"] as const) {
      if (!(f[k] >= 0 && f[k] <= 1))
        throw new InvalidSimOptionError(`link.${k}`, `must be in [0, 1], got ${f[k]}`);
    }
    this.faults = f;
  }

  getFaults(): LinkFaults {
    return this.faults;
  }

  send(msg: M, now: number): void {
    this.stats.sent++;
    const f = this.faults;
    if (f.dropRate > 0 && this.rng.chance(f.dropRate)) {
      this.stats.dropped++;
      return;
    }
    this.enqueue(msg, now);
    if (f.duplicateRate > 0 && this.rng.chance(f.duplicateRate)) {
      this.stats.duplicated++;
      this.enqueue(msg, now);
    }
  }

  private enqueue(msg: M, now: number): void {
    const f = this.faults;
    const delay = f.minDelay === f.maxDelay ? f.minDelay : this.rng.range(f.minDelay, f.maxDelay);
    (this.ring[(now + delay) % this.ring.length] as M[]).push(msg);
    this.inFlight++;
  }

  /**
   * Messages due at `now`, in a random order (messages due in the same step are concurrent).
   * Messages on blocked links are dropped and passed to `onDrop`.
   */
  deliverDue(now: number, onDrop?: (msg: M, reason: DropReason) => void): M[] {
    const slot = now % this.ring.length;
    const due = this.ring[slot] as M[];
    if (due.length === 0) return due;
    this.ring[slot] = [];
    this.inFlight -= due.length;
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      const t = due[i] as M;
      due[i] = due[j] as M;
      due[j] = t;
    }
    if (this.blocked.size === 0) {
      this.stats.delivered += due.length;
      return due;
    }
    const out: M[] = [];
    for (const m of due) {
      if (this.blocked.has(linkKey(m.from, m.to))) {
        this.stats.blockedByPartition++;
        onDrop?.(m, "partition");
      } else {
        out.push(m);
      }
    }
    this.stats.delivered += out.length;
    return out;
  }

  pending(): number {
    return this.inFlight;
  }

  /** Drops every message in flight (e.g. to start a scenario from a clean slate). */
  clearInFlight(): void {
    for (let i = 0; i < this.ring.length; i++) this.ring[i] = [];
    this.inFlight = 0;
  }

  blockLink(from: number, to: number): void {
    this.blocked.add(linkKey(from, to));
  }

  unblockLink(from: number, to: number): void {
    this.blocked.delete(linkKey(from, to));
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked.has(linkKey(from, to));
  }

  /** Symmetric partition: no traffic between different groups; endpoints not listed are untouched. */
  partition(groups: readonly (readonly number[])[]): void {
    for (let a = 0; a < groups.length; a++) {
      for (let b = 0; b < groups.length; b++) {
        if (a === b) continue;
        for (const x of groups[a] as readonly number[]) {
          for (const y of groups[b] as readonly number[]) this.blockLink(x, y);
        }
      }
    }
  }

  /** Cuts one endpoint off from all others, both ways. */
  isolate(id: number, others: readonly number[]): void {
    this.partition([[id], others.filter((o) => o !== id)]);
  }

  heal(): void {
    this.blocked.clear();
  }

  hasPartition(): boolean {
    return this.blocked.size > 0;
  }
}

function linkKey(from: number, to: number): number {
  return from * 65536 + to;
}
