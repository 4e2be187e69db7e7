// Deadlines and stragglers, learned from the job itself: the p75 duration of completed
// siblings (same job, same kind) sets both how long an attempt may run before it is expired
// (p75 × deadlineFactor) and when a speculative duplicate is started (p75 × speculationFactor).
// Until enough siblings completed there is nothing to learn from: a fixed initial deadline
// applies and no speculation happens.

export interface DeadlinePolicy {
  /** Completed siblings needed before durations are trusted. */
  readonly minSamples: number;
  /** Expire an attempt running longer than p75 × this. */
  readonly deadlineFactor: number;
  /** Deadline floor (ms): never expire sooner than this, however fast siblings were. */
  readonly minDeadlineMs: number;
  /** Deadline while fewer than minSamples siblings completed (ms). */
  readonly initialDeadlineMs: number;
  /** Start a speculative attempt for one running longer than p75 × this (0 = never). */
  readonly speculationFactor: number;
  /** Speculation floor (ms): tiny tasks are not worth duplicating. */
  readonly minSpeculationMs: number;
}

export const DEFAULT_DEADLINES: DeadlinePolicy = {
  minSamples: 3,
  deadlineFactor: 4,
  minDeadlineMs: 10_000,
  initialDeadlineMs: 300_000,
  speculationFactor: 1.5,
  minSpeculationMs: 1_000,
};

/** Nearest-rank percentile (p in 0..1) of unsorted values; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/**
 * Bounded reservoir of recent durations per (job, kind): the most recent `capacity` samples.
 * Recent ones matter more (a node joined, a cache warmed); bounded so a huge job stays small.
 */
export class DurationStats {
  private readonly series = new Map<string, Series>();
  constructor(private readonly capacity = 256) {}

  add(jobId: string, kind: string, durationMs: number): void {
    const key = `${jobId}\u0000${kind}`;
    let s = this.series.get(key);
    if (!s) {
      s = { samples: [], addsSinceLearned: 0, learned: undefined };
      this.series.set(key, s);
    }
    s.samples.push(durationMs);
    s.addsSinceLearned++;
    if (s.samples.length > this.capacity) s.samples.shift();
  }

  get(jobId: string, kind: string): readonly number[] {
    return this.series.get(`${jobId}\u0000${kind}`)?.samples ?? [];
  }

  /**
   * learn() over the samples, re-learned once a 32nd of the window is new (every add while
   * fewer than 32): the planner asks on every pass, and sorting 256 samples per pass and job
   * would cost more than the p75 moves.
   */
  learned(jobId: string, kind: string, policy: DeadlinePolicy): Learned {
    const s = this.series.get(`${jobId}\u0000${kind}`);
    if (!s) return learn([], policy);
    const stale = s.addsSinceLearned >= Math.max(1, s.samples.length >> 5);
    if (!s.learned || s.learned.policy !== policy || stale) {
      s.learned = { policy, value: learn(s.samples, policy) };
      s.addsSinceLearned = 0;
    }
    return s.learned.value;
  }

  dropJob(jobId: string): void {
    for (const key of [...this.series.keys()]) {
      if (key.startsWith(`${jobId}\u0000`)) this.series.delete(key);
    }
  }
}

interface Series {
  readonly samples: number[];
  addsSinceLearned: number;
  learned: { readonly policy: DeadlinePolicy; readonly value: Learned } | undefined;
}

export interface Learned {
  readonly p75: number | undefined;
  /** How long an attempt may run (ms). */
  readonly deadlineMs: number;
  /** Running longer than this makes an attempt a straggler (undefined: no speculation). */
  readonly speculateAfterMs: number | undefined;
}

export function learn(samples: readonly number[], policy: DeadlinePolicy): Learned {
  if (samples.length < policy.minSamples) {
    return { p75: undefined, deadlineMs: policy.initialDeadlineMs, speculateAfterMs: undefined };
  }
  const p75 = percentile(samples, 0.75) ?? 0;
  return {
    p75,
    deadlineMs: Math.max(policy.minDeadlineMs, p75 * policy.deadlineFactor),
    speculateAfterMs:
      policy.speculationFactor > 0
        ? Math.max(policy.minSpeculationMs, p75 * policy.speculationFactor)
        : undefined,
  };
}

export interface AttemptTiming {
  /** Leader-stamped start of the attempt (ms since the epoch). The deadlineAt an attempt was
   * started with is informational: what siblings teach later wins, both ways. */
  readonly startedAt: number;
}

/** Has the attempt run past its deadline at `now`? */
export function overran(a: AttemptTiming, learned: Learned, now: number): boolean {
  return now > a.startedAt + learned.deadlineMs;
}

/** Is the attempt a straggler worth a speculative duplicate at `now`? */
export function isStraggler(a: AttemptTiming, learned: Learned, now: number): boolean {
  return learned.speculateAfterMs !== undefined && now - a.startedAt > learned.speculateAfterMs;
}
