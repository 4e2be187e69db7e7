// Storage circuit breaker: when storage keeps failing, stop placing work instead of burning
// every task's attempts on an outage. Closed → (N storage failures within the window) → open
// → (cooldown elapsed) → half-open: exactly one probe attempt may be placed → its success
// closes the breaker, its storage failure re-opens it (cooldown doubles, capped).
// Pure: time is passed in; the shell feeds it observations and asks before each placement.

export interface BreakerPolicy {
  /** Storage failures within `windowMs` that open the breaker. */
  readonly threshold: number;
  readonly windowMs: number;
  /** First open period before a probe (ms); doubles on each failed probe up to maxCooldownMs. */
  readonly cooldownMs: number;
  readonly maxCooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerPolicy = {
  threshold: 5,
  windowMs: 30_000,
  cooldownMs: 5_000,
  maxCooldownMs: 60_000,
};

export type BreakerState = "closed" | "open" | "half-open";

/** Is this failure reason the storage backend misbehaving (not a corrupt tile, not a bug)? */
export function isStorageOutage(reason: string | undefined): boolean {
  return reason !== undefined && /TESSERA_E_STORAGE_(UNAVAILABLE|BACKEND|IO|TIMEOUT)/.test(reason);
}

export class StorageBreaker {
  private failures: number[] = [];
  private state_: BreakerState = "closed";
  private openedAt = 0;
  private cooldown: number;
  /** Identity of the probe attempt while half-open ("job/task/attempt"). */
  private probe: string | undefined;
  /** Number of times it opened (for metrics). */
  opens = 0;

  constructor(private readonly policy: BreakerPolicy = DEFAULT_BREAKER) {
    this.cooldown = policy.cooldownMs;
  }

  /** State at `now` (open turns half-open once the cooldown has passed). */
  state(now: number): BreakerState {
    if (this.state_ === "open" && now >= this.openedAt + this.cooldown) this.state_ = "half-open";
    return this.state_;
  }

  /** When an open breaker will let a probe through (undefined unless open). */
  reopensAt(): number | undefined {
    return this.state_ === "open" ? this.openedAt + this.cooldown : undefined;
  }

  /**
   * May one more attempt be placed now? Half-open answers yes once, and remembers `attemptKey`
   * as the probe; later calls say no until the probe resolves.
   */
  allowPlacement(now: number, attemptKey: string): boolean {
    const s = this.state(now);
    if (s === "closed") return true;
    if (s === "open") return false;
    if (this.probe !== undefined) return false;
    this.probe = attemptKey;
    return true;
  }

  /** The probe could not be placed after all (proposal rejected): let another one try. */
  cancelProbe(attemptKey: string): void {
    if (this.probe === attemptKey) this.probe = undefined;
  }

  /** An attempt failed; storage outages count toward opening, a failed probe re-opens. */
  recordFailure(now: number, reason: string | undefined, attemptKey?: string): void {
    const s = this.state(now);
    const storage = isStorageOutage(reason);
    if (s === "half-open" && attemptKey !== undefined && attemptKey === this.probe) {
      this.probe = undefined;
      if (storage) {
        this.cooldown = Math.min(this.policy.maxCooldownMs, this.cooldown * 2);
        this.open(now);
      }
      return;
    }
    if (!storage || s !== "closed") return;
    this.failures.push(now);
    const from = now - this.policy.windowMs;
    this.failures = this.failures.filter((t) => t > from);
    if (this.failures.length >= this.policy.threshold) this.open(now);
  }

  /** An attempt completed: storage works. A half-open breaker closes; so does any success. */
  recordSuccess(now: number, attemptKey?: string): void {
    const s = this.state(now);
    if (s === "open") return; // a straggler from before the outage proves nothing about now
    if (s === "half-open" && attemptKey !== this.probe && this.probe !== undefined) return;
    this.state_ = "closed";
    this.probe = undefined;
    this.failures = [];
    this.cooldown = this.policy.cooldownMs;
  }

  private open(now: number): void {
    this.state_ = "open";
    this.openedAt = now;
    this.failures = [];
    this.opens++;
  }
}
