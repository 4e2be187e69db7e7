import { RaftInvariantError } from "./errors.js";

/**
 * The flow-control window of one follower in Replicate state (etcd's tracker.Inflights): a ring
 * buffer of the last index of each append message sent and not yet acknowledged.
 */
export class Inflights {
  private start = 0;
  private _count = 0;
  private readonly buffer: Float64Array;

  constructor(readonly capacity: number) {
    this.buffer = new Float64Array(capacity);
  }

  get count(): number {
    return this._count;
  }

  full(): boolean {
    return this._count === this.capacity;
  }

  /** Records an append message whose last entry is `index` (must be increasing). */
  add(index: number): void {
    if (this.full()) throw new RaftInvariantError("inflight window overflow");
    let next = this.start + this._count;
    if (next >= this.capacity) next -= this.capacity;
    this.buffer[next] = index;
    this._count++;
  }

  /** Frees every message whose last index is <= index (they are acknowledged). */
  freeLE(index: number): void {
    let i = 0;
    let idx = this.start;
    while (i < this._count && this.buffer[idx]! <= index) {
      i++;
      idx++;
      if (idx >= this.capacity) idx -= this.capacity;
    }
    this._count -= i;
    this.start = this._count === 0 ? 0 : idx;
  }

  /** Frees the oldest message (used when a heartbeat shows the follower is alive). */
  freeFirstOne(): void {
    if (this._count === 0) return;
    this.freeLE(this.buffer[this.start]!);
  }

  reset(): void {
    this._count = 0;
    this.start = 0;
  }
}
