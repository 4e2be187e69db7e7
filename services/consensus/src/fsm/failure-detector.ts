import { FsmOptionsError } from "./errors.js";

/**
 * φ-accrual failure detector (Hayashibara et al., 2004; the Akka/Cassandra variant), pure: the
 * caller passes heartbeat arrival times and "now" as ms numbers, so it is unit-testable without
 * a clock and the leader's decision enters the log as a node-failed command.
 *
 * For each node it keeps a window of heartbeat inter-arrival intervals; given the time since the
 * last heartbeat t, φ(t) = −log10 P(interval > t) under a normal distribution fitted to the
 * window. φ = 8 means "the chance that this node is merely slow is 1e-8". The standard deviation
 * is floored (minStdDevMs) so a perfectly regular sender is not declared dead at the first late
 * packet, and a hard cap (maxSilenceMs) bounds detection time whatever the history says: that is
 * what guarantees "silent node declared failed within 2 s at 1 s heartbeats" even after a
 * jittery period has widened the distribution. With 1 s heartbeats and little jitter, a silent
 * node reaches φ = 8 after ≈ 1.56 s (mean + 5.6 σ with σ = 100 ms).
 */

export interface FailureDetectorOptions {
  /** φ at or above which a node is suspected. */
  readonly threshold: number;
  /** Window of intervals kept per node. */
  readonly windowSize: number;
  /** Floor of the interval standard deviation (ms). */
  readonly minStdDevMs: number;
  /** Extra silence tolerated on top of the distribution (ms), e.g. for known GC pauses. */
  readonly acceptablePauseMs: number;
  /** Interval assumed before the first measured one (the heartbeat period, ms). */
  readonly expectedIntervalMs: number;
  /** A node silent this long is suspected regardless of φ (ms). */
  readonly maxSilenceMs: number;
}

export const DEFAULT_FAILURE_DETECTOR_OPTIONS: FailureDetectorOptions = {
  threshold: 8,
  windowSize: 100,
  minStdDevMs: 100,
  acceptablePauseMs: 0,
  expectedIntervalMs: 1000,
  maxSilenceMs: 1800,
};

export interface Suspect {
  readonly nodeId: string;
  readonly reason: string;
  readonly phi: number;
  readonly silenceMs: number;
}

/** Bounded ring of intervals with running sums (O(1) mean/variance). */
class IntervalWindow {
  private readonly values: Float64Array;
  private next = 0;
  private count = 0;
  private sum = 0;
  private sumSq = 0;

  constructor(size: number) {
    this.values = new Float64Array(size);
  }

  add(v: number): void {
    if (this.count === this.values.length) {
      const old = this.values[this.next] ?? 0;
      this.sum -= old;
      this.sumSq -= old * old;
    } else {
      this.count++;
    }
    this.values[this.next] = v;
    this.next = (this.next + 1) % this.values.length;
    this.sum += v;
    this.sumSq += v * v;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  get stdDev(): number {
    if (this.count < 2) return 0;
    const m = this.mean;
    return Math.sqrt(Math.max(0, this.sumSq / this.count - m * m));
  }
}

interface NodeHistory {
  last: number;
  readonly intervals: IntervalWindow;
}

/**
 * Complementary error function (Numerical Recipes `erfcc`, fractional error < 1.2e-7 everywhere),
 * accurate in the far tail where 1 − CDF would round to 0.
 */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t *
                              (-1.13520398 +
                                t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** φ for `elapsed` ms of silence given the interval distribution. */
export function phiOf(elapsed: number, mean: number, stdDev: number): number {
  const p = 0.5 * erfc((elapsed - mean) / (stdDev * Math.SQRT2));
  return p <= 0 ? Number.POSITIVE_INFINITY : -Math.log10(p);
}

export class FailureDetector {
  readonly options: FailureDetectorOptions;
  private readonly nodes = new Map<string, NodeHistory>();

  constructor(options: Partial<FailureDetectorOptions> = {}) {
    const o = { ...DEFAULT_FAILURE_DETECTOR_OPTIONS, ...options };
    for (const [field, v] of Object.entries(o)) {
      const ok = field === "acceptablePauseMs" ? v >= 0 : v > 0;
      if (!Number.isFinite(v) || !ok) {
        throw new FsmOptionsError(
          `failureDetector.${field}`,
          `must be a finite number > 0, got ${v}`,
        );
      }
    }
    if (!Number.isInteger(o.windowSize)) {
      throw new FsmOptionsError("failureDetector.windowSize", "must be an integer");
    }
    this.options = o;
  }

  /** Records a heartbeat from `nodeId` received at `at` (ms). Late (reordered) arrivals are ignored. */
  heartbeat(nodeId: string, at: number): void {
    const h = this.nodes.get(nodeId);
    if (!h) {
      // Seed with mean ± σ of the expected period (σ = period/4) until real intervals dominate.
      const intervals = new IntervalWindow(this.options.windowSize);
      const e = this.options.expectedIntervalMs;
      intervals.add(e - e / 4);
      intervals.add(e + e / 4);
      this.nodes.set(nodeId, { last: at, intervals });
      return;
    }
    if (at <= h.last) return;
    h.intervals.add(at - h.last);
    h.last = at;
  }

  /**
   * The observer itself could not hear anyone until `now` (its own link was down): every watched
   * node's silence restarts at `now`. No interval is recorded, so the outage neither counts as
   * silence nor widens the nodes' interval distributions.
   */
  resume(now: number): void {
    for (const h of this.nodes.values()) h.last = Math.max(h.last, now);
  }

  /** Forgets a node (reported failed, or removed); its next heartbeat starts a fresh history. */
  remove(nodeId: string): void {
    this.nodes.delete(nodeId);
  }

  has(nodeId: string): boolean {
    return this.nodes.has(nodeId);
  }

  /** Nodes being watched. */
  watched(): string[] {
    return [...this.nodes.keys()];
  }

  private stats(h: NodeHistory): { mean: number; stdDev: number } {
    return {
      mean: h.intervals.mean + this.options.acceptablePauseMs,
      stdDev: Math.max(this.options.minStdDevMs, h.intervals.stdDev),
    };
  }

  /** φ of `nodeId` at `now` (0 for an unknown node or right after a heartbeat). */
  phi(nodeId: string, now: number): number {
    const h = this.nodes.get(nodeId);
    if (!h) return 0;
    const { mean, stdDev } = this.stats(h);
    return phiOf(Math.max(0, now - h.last), mean, stdDev);
  }

  isAvailable(nodeId: string, now: number): boolean {
    const h = this.nodes.get(nodeId);
    if (!h) return false;
    return (
      now - h.last < this.options.maxSilenceMs && this.phi(nodeId, now) < this.options.threshold
    );
  }

  /**
   * When `nodeId` will be suspected if no heartbeat arrives (ms, absolute): the earlier of the
   * φ-threshold crossing and last + maxSilenceMs. Lets the host set one timer instead of polling.
   */
  suspectAt(nodeId: string): number | undefined {
    const h = this.nodes.get(nodeId);
    if (!h) return undefined;
    const { mean, stdDev } = this.stats(h);
    let lo = 0;
    let hi = this.options.maxSilenceMs;
    if (phiOf(hi, mean, stdDev) < this.options.threshold) return h.last + hi;
    // φ is increasing in the silence: bisect to 0.1 ms.
    while (hi - lo > 0.1) {
      const mid = (lo + hi) / 2;
      if (phiOf(mid, mean, stdDev) >= this.options.threshold) hi = mid;
      else lo = mid;
    }
    return h.last + hi;
  }

  /** Earliest suspectAt over all watched nodes (undefined when none). */
  nextSuspectAt(): number | undefined {
    let next: number | undefined;
    for (const id of this.nodes.keys()) {
      const at = this.suspectAt(id);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /** Nodes suspected at `now`, in the order they were first seen, with a human reason. */
  suspects(now: number): Suspect[] {
    const out: Suspect[] = [];
    for (const [nodeId, h] of this.nodes) {
      const silenceMs = Math.max(0, now - h.last);
      const { mean, stdDev } = this.stats(h);
      const phi = phiOf(silenceMs, mean, stdDev);
      const capped = silenceMs >= this.options.maxSilenceMs;
      if (phi < this.options.threshold && !capped) continue;
      const stats = `mean interval ${mean.toFixed(0)} ms, σ ${stdDev.toFixed(0)} ms`;
      const reason = capped
        ? `silent for ${silenceMs.toFixed(0)} ms >= maxSilence ${this.options.maxSilenceMs} ms (φ ${phi.toFixed(1)}, ${stats})`
        : `φ ${phi.toFixed(1)} >= ${this.options.threshold} after ${silenceMs.toFixed(0)} ms of silence (${stats})`;
      out.push({ nodeId, reason, phi, silenceMs });
    }
    return out;
  }
}
