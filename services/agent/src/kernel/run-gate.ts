// Admits at most `limit` kernel runs at once, first come first served. An agent runs several work
// items at once so that one item's tile I/O overlaps another's kernel; the gate keeps those items
// from also running their kernels side by side, which on a CPU would only split the same cores
// between them (and evict each other's cache) while the I/O they were meant to hide waits.
export class RunGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`limit ${limit} must be an integer ≥ 1`);
    }
  }

  /** Runs `fn` once admitted; its time does not start until then. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((admit) => this.waiting.push(admit));
    try {
      return await fn();
    } finally {
      // Hand the place straight to the next waiter, so a newcomer cannot overtake it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Runs admitted now, and runs waiting for a place. */
  load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }
}
