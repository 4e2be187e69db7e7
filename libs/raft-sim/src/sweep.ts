import type { InvariantName } from "./sim/invariants.js";
import { runSeed, type SeedOptions, type SeedResult, type SimFailure } from "./sim/run-seed.js";

export interface SweepOptions {
  /** First seed. */
  readonly from: number;
  /** Number of seeds: from .. from+seeds-1. */
  readonly seeds: number;
  readonly steps: number;
  readonly nodes: number;
  readonly bootstrap?: SeedOptions["bootstrap"];
  readonly crashPoints?: SeedOptions["crashPoints"];
  /** Called after each seed (progress reporting). */
  readonly onResult?: (r: SeedResult) => void;
}

export interface SweepSummary {
  readonly seeds: number;
  readonly failures: number;
  readonly firstFailingSeed: number | null;
  readonly from: number;
  readonly steps: number;
  readonly nodes: number;
  /** Every failing seed, ascending. */
  readonly failingSeeds: readonly number[];
  readonly failuresByInvariant: Readonly<Record<string, number>>;
  /** Steps simulated in total (faulty phase + settling). */
  readonly stepsSimulated: number;
  /**
   * Order-independent digest of every seed's run digest (a sum, so sub-ranges run by different
   * workers add up to the same value): equal across reruns of the same sweep.
   */
  readonly digest: string;
  /** Full details of the first few failures. */
  readonly failureDetails: readonly SimFailure[];
}

const MAX_DETAILS = 5;

/** Runs seeds one after another in this process. */
export function runSweep(o: SweepOptions): SweepSummary {
  const results: SeedResult[] = [];
  for (let s = o.from; s < o.from + o.seeds; s++) {
    const r = runSeed({
      seed: s,
      steps: o.steps,
      nodes: o.nodes,
      bootstrap: o.bootstrap,
      crashPoints: o.crashPoints,
    });
    o.onResult?.(r);
    results.push(r);
  }
  return summarize(o, results);
}

export function seedDigestTerm(seed: number, digest: string): number {
  return Math.imul(Number.parseInt(digest, 16) ^ seed, 0x9e3779b1) >>> 0;
}

function summarize(o: SweepOptions, results: readonly SeedResult[]): SweepSummary {
  const failing = results.filter((r) => !r.ok);
  const byInv: Record<string, number> = {};
  for (const r of failing) {
    const inv: InvariantName = r.failure?.invariant ?? "core-error";
    byInv[inv] = (byInv[inv] ?? 0) + 1;
  }
  let digest = 0;
  let steps = 0;
  for (const r of results) {
    digest = (digest + seedDigestTerm(r.seed, r.digest)) >>> 0;
    steps += r.steps;
  }
  return {
    seeds: o.seeds,
    failures: failing.length,
    firstFailingSeed: failing[0]?.seed ?? null,
    from: o.from,
    steps: o.steps,
    nodes: o.nodes,
    failingSeeds: failing.map((r) => r.seed),
    failuresByInvariant: byInv,
    stepsSimulated: steps,
    digest: digest.toString(16).padStart(8, "0"),
    failureDetails: failing.slice(0, MAX_DETAILS).map((r) => r.failure as SimFailure),
  };
}

/** Combines the summaries of contiguous sub-ranges (from parallel workers) into one. */
export function mergeSummaries(o: SweepOptions, parts: readonly SweepSummary[]): SweepSummary {
  const failingSeeds = parts.flatMap((p) => p.failingSeeds).sort((a, b) => a - b);
  const byInv: Record<string, number> = {};
  let digest = 0;
  let steps = 0;
  for (const p of parts) {
    for (const [k, v] of Object.entries(p.failuresByInvariant)) byInv[k] = (byInv[k] ?? 0) + v;
    digest = (digest + Number.parseInt(p.digest, 16)) >>> 0;
    steps += p.stepsSimulated;
  }
  const details = parts
    .flatMap((p) => p.failureDetails)
    .sort((a, b) => a.seed - b.seed)
    .slice(0, MAX_DETAILS);
  return {
    seeds: o.seeds,
    failures: failingSeeds.length,
    firstFailingSeed: failingSeeds[0] ?? null,
    from: o.from,
    steps: o.steps,
    nodes: o.nodes,
    failingSeeds,
    failuresByInvariant: byInv,
    stepsSimulated: steps,
    digest: digest.toString(16).padStart(8, "0"),
    failureDetails: details,
  };
}
