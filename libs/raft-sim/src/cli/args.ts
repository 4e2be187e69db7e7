import { CliUsageError } from "../errors.js";
import type { Bootstrap } from "../sim/run-seed.js";
import { CRASH_POINTS, type CrashPoint } from "../sim/sim-node.js";

export interface CliArgs {
  readonly seeds: number;
  readonly from: number;
  readonly steps: number;
  readonly nodes: 3 | 5;
  readonly json: boolean;
  readonly workers: number;
  readonly bootstrap: Bootstrap;
  readonly crashPoints: readonly CrashPoint[];
  readonly help: boolean;
}

export const USAGE = `usage: pnpm sim --seeds N [--from S] [--steps K] [--nodes 3|5] [--workers W] [--bootstrap mixed|conf-state|snapshot]
                [--crash-points P1,P2,...] [--json]

Runs seeds S..S+N-1 of the deterministic Raft simulator (default S=1, K=1000 faulty steps, 3 nodes).
The last line of output is always one JSON object: {"seeds":N,"failures":F,"firstFailingSeed":...}.
--seeds 1 --from S replays seed S alone and prints its failure details and trace.
--bootstrap: how the initial members get the configuration: "conf-state" (the core's documented way,
  new members replay the log), "snapshot" (new members need InstallSnapshot), or "mixed" (default:
  each seed picks one).
--crash-points: where mid-Ready crashes strike (default all: ${CRASH_POINTS.join(",")}).
Exit status 1 if any seed failed, 2 on a usage error.`;

function int(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined || raw.startsWith("--")) throw new CliUsageError(flag, "needs a value");
  if (!/^\d+$/.test(raw)) throw new CliUsageError(flag, `must be a whole number, got "${raw}"`);
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new CliUsageError(flag, `must be between ${min} and ${max}, got ${raw}`);
  }
  return v;
}

/** Parses `pnpm sim` flags; throws CliUsageError naming the offending flag. */
export function parseArgs(argv: readonly string[]): CliArgs {
  let seeds: number | undefined;
  let from = 1;
  let steps = 1000;
  let nodes: 3 | 5 = 3;
  let json = false;
  let workers = 1;
  let bootstrap: CliArgs["bootstrap"] = "mixed";
  let crashPoints: readonly CrashPoint[] = CRASH_POINTS;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    // `pnpm sim -- --seeds 3` passes the separator through.
    if (a === "--") continue;
    const [flag, inline] = a.includes("=")
      ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]
      : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case "--seeds":
        seeds = int("--seeds", value(), 1, 10_000_000);
        break;
      case "--from":
        from = int("--from", value(), 0, Number.MAX_SAFE_INTEGER - 10_000_000);
        break;
      case "--steps":
        steps = int("--steps", value(), 1, 10_000_000);
        break;
      case "--nodes": {
        const n = int("--nodes", value(), 1, 99);
        if (n !== 3 && n !== 5) throw new CliUsageError("--nodes", `must be 3 or 5, got ${n}`);
        nodes = n;
        break;
      }
      case "--workers":
        workers = int("--workers", value(), 1, 64);
        break;
      case "--bootstrap": {
        const v = value();
        if (v !== "conf-state" && v !== "snapshot" && v !== "mixed") {
          throw new CliUsageError(
            "--bootstrap",
            `must be "mixed", "conf-state" or "snapshot", got ${String(v)}`,
          );
        }
        bootstrap = v;
        break;
      }
      case "--crash-points": {
        const v = value();
        if (v === undefined || v.startsWith("--"))
          throw new CliUsageError("--crash-points", "needs a value");
        const list = v === "" ? [] : v.split(",");
        for (const p of list) {
          if (!(CRASH_POINTS as readonly string[]).includes(p)) {
            throw new CliUsageError(
              "--crash-points",
              `unknown crash point "${p}" (known: ${CRASH_POINTS.join(", ")})`,
            );
          }
        }
        crashPoints = list as CrashPoint[];
        break;
      }
      case "--json":
        if (inline !== undefined) throw new CliUsageError("--json", "takes no value");
        json = true;
        break;
      case "--help":
      case "-h":
        help = true;
        break;
      default:
        throw new CliUsageError(flag, "unknown flag");
    }
  }
  if (seeds === undefined && !help) throw new CliUsageError("--seeds", "is required");
  return { seeds: seeds ?? 0, from, steps, nodes, json, workers, bootstrap, crashPoints, help };
}
