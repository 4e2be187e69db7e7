import { spawn } from "node:child_process";
import { CliUsageError } from "../errors.js";
import { runSeed } from "../sim/run-seed.js";
import { CRASH_POINTS } from "../sim/sim-node.js";
import {
  mergeSummaries,
  runSweep,
  type SweepOptions,
  type SweepSummary,
  seedDigestTerm,
} from "../sweep.js";
import { type CliArgs, parseArgs, USAGE } from "./args.js";

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export interface CliContext {
  /** Path of the built cli.js, which worker processes run. */
  readonly cliPath?: string;
}

/** Runs `pnpm sim` with the given arguments; resolves to the exit code. */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  ctx: CliContext = {},
): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof CliUsageError) {
      io.err(`error: ${e.message}`);
      io.err(USAGE);
      return 2;
    }
    throw e;
  }
  if (args.help) {
    io.out(USAGE);
    return 0;
  }
  const started = performance.now();
  const sweep: SweepOptions = {
    from: args.from,
    seeds: args.seeds,
    steps: args.steps,
    nodes: args.nodes,
    bootstrap: args.bootstrap,
    crashPoints: args.crashPoints,
  };
  if (args.seeds === 1) return replayOne(args, io, started);

  let summary: SweepSummary;
  const workers = Math.min(args.workers, args.seeds);
  if (workers > 1) {
    if (ctx.cliPath === undefined) {
      io.err("error: --workers: needs the built CLI (run `pnpm build` and use dist/cli.js)");
      return 2;
    }
    summary = mergeSummaries(sweep, await runWorkers(sweep, workers, ctx.cliPath));
  } else {
    summary = runSweep(sweep);
  }
  const elapsedMs = Math.round(performance.now() - started);
  if (!args.json) {
    io.out(
      `${summary.seeds} seeds x ${summary.steps} steps, ${summary.nodes} nodes: ${summary.failures} failing` +
        ` (${summary.stepsSimulated} steps simulated in ${(elapsedMs / 1000).toFixed(1)} s, ${workers} worker${workers > 1 ? "s" : ""})`,
    );
    for (const [inv, n] of Object.entries(summary.failuresByInvariant)) io.out(`  ${inv}: ${n}`);
    if (summary.failures > 0) {
      io.out(
        `  failing seeds: ${summary.failingSeeds.slice(0, 30).join(" ")}${summary.failures > 30 ? " ..." : ""}`,
      );
      for (const f of summary.failureDetails) {
        io.out(`  seed ${f.seed} step ${f.step}: ${f.message.split("\n")[0]}`);
      }
      io.out(`  replay one with: pnpm sim --seeds 1 --from ${summary.firstFailingSeed}`);
    }
  }
  io.out(
    JSON.stringify({
      ...summary,
      bootstrap: args.bootstrap,
      crashPoints: args.crashPoints,
      workers,
      elapsedMs,
    }),
  );
  return summary.failures > 0 ? 1 : 0;
}

function replayOne(args: CliArgs, io: CliIo, started: number): number {
  const r = runSeed({
    seed: args.from,
    steps: args.steps,
    nodes: args.nodes,
    trace: true,
    bootstrap: args.bootstrap,
  });
  const elapsedMs = Math.round(performance.now() - started);
  if (!args.json) {
    io.out(`seed ${r.seed}: ${r.ok ? "ok" : "FAILED"} after ${r.steps} steps (digest ${r.digest})`);
    io.out(`  stats ${JSON.stringify(r.stats)}`);
    if (r.failure) {
      io.out(`  ${r.failure.invariant} at step ${r.failure.step}:`);
      for (const line of r.failure.message.split("\n")) io.out(`    ${line}`);
      io.out("  trace (last lines):");
      for (const line of r.failure.trace) io.out(`    ${line}`);
    }
  }
  const summary: SweepSummary = {
    seeds: 1,
    failures: r.ok ? 0 : 1,
    firstFailingSeed: r.ok ? null : r.seed,
    from: args.from,
    steps: args.steps,
    nodes: args.nodes,
    failingSeeds: r.ok ? [] : [r.seed],
    failuresByInvariant: r.failure ? { [r.failure.invariant]: 1 } : {},
    stepsSimulated: r.steps,
    digest: seedDigestTerm(r.seed, r.digest).toString(16).padStart(8, "0"),
    failureDetails: r.failure ? [{ ...r.failure, trace: [] }] : [],
  };
  io.out(
    JSON.stringify({
      ...summary,
      runDigest: r.digest,
      stats: r.stats,
      ...(r.failure
        ? {
            failure: {
              invariant: r.failure.invariant,
              step: r.failure.step,
              message: r.failure.message,
            },
          }
        : {}),
      elapsedMs,
    }),
  );
  return r.ok ? 0 : 1;
}

/** Splits the range into contiguous chunks and runs each in a child `node cli.js --json`. */
function runWorkers(o: SweepOptions, workers: number, cliPath: string): Promise<SweepSummary[]> {
  const chunks: { from: number; seeds: number }[] = [];
  const base = Math.floor(o.seeds / workers);
  let extra = o.seeds % workers;
  let from = o.from;
  for (let w = 0; w < workers; w++) {
    const n = base + (extra-- > 0 ? 1 : 0);
    chunks.push({ from, seeds: n });
    from += n;
  }
  return Promise.all(
    chunks.map(
      (c) =>
        new Promise<SweepSummary>((resolve, reject) => {
          const child = spawn(
            process.execPath,
            [
              cliPath,
              "--seeds",
              String(c.seeds),
              "--from",
              String(c.from),
              "--steps",
              String(o.steps),
              "--nodes",
              String(o.nodes),
              "--bootstrap",
              o.bootstrap ?? "mixed",
              "--crash-points",
              (o.crashPoints ?? CRASH_POINTS).join(","),
              "--json",
            ],
            { stdio: ["ignore", "pipe", "inherit"] },
          );
          let out = "";
          child.stdout.setEncoding("utf8");
          child.stdout.on("data", (d: string) => {
            out += d;
          });
          child.on("error", reject);
          child.on("close", (code) => {
            const last = out.trim().split("\n").pop() ?? "";
            try {
              resolve(JSON.parse(last) as SweepSummary);
            } catch {
              reject(
                new Error(
                  `worker for seeds ${c.from}..${c.from + c.seeds - 1} exited ${code} without a JSON summary`,
                ),
              );
            }
          });
        }),
    ),
  );
}
