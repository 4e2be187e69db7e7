// `pnpm bench verify [--n 8192] [--tile 1024] [--mode exact|float] [--rounds 3] [--threads 2]`
//
// Freivalds verification of a whole job (libs/matrix verifyJob, inputs regenerated as the
// storage-manager does). Exact mode: the row-block check (its default) against the tile-by-tile
// check, interleaved round by round in one process on the same output, plus the row-block check
// of an output with one wrong element (its failure path: the row block is re-checked tile by
// tile to name the tile). Float mode: the tile check (its only one), and with one wrong element. The output is computed first through the agent's
// own ORT kernel (`setupSeconds`, not part of any figure) and held in memory, so storage reads
// are not timed. Last stdout line: one JSON object.
import { KernelRunner } from "@tessera/agent";
import {
  generateTileA,
  generateTileB,
  type MatmulJobSpec,
  validateJobSpec,
  verifyJob,
} from "@tessera/matrix";
import { FlagError, intIn, runBench } from "./_cli.js";

const FLAG_RANGES: Record<string, [number, number]> = {
  n: [64, 16_384],
  tile: [16, 8192],
  rounds: [1, 100],
  threads: [1, 64],
};

interface Flags {
  mode: "exact" | "float";
  n: number;
  tile: number;
  rounds: number;
  threads: number;
}

function parseFlags(argv: string[]): Flags {
  const flags: Record<string, number> = { n: 8192, tile: 1024, rounds: 3, threads: 2 };
  let mode: Flags["mode"] = "exact";
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, "") ?? "";
    const value = argv[i + 1];
    if (value === undefined) throw new FlagError(`--${name}: missing value`);
    if (name === "mode") {
      if (value !== "exact" && value !== "float") {
        throw new FlagError(`--mode: must be exact or float, got "${value}"`);
      }
      mode = value;
      continue;
    }
    const range = FLAG_RANGES[name];
    if (!range) {
      throw new FlagError(
        `unknown flag --${name}; flags: --mode ${Object.keys(FLAG_RANGES)
          .map((f) => `--${f}`)
          .join(" ")}`,
      );
    }
    flags[name] = intIn(name, value, range[0], range[1]);
  }
  return { ...(flags as unknown as Omit<Flags, "mode">), mode };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

/**
 * C = A·B tile by tile through ORT, one GEMM over the whole inner dimension per tile: exact in
 * exact mode (every partial sum is below 2^24), within the check's bound in float mode.
 */
async function computeOutput(spec: MatmulJobSpec, threads: number): Promise<Float32Array[][]> {
  const runner = await KernelRunner.create({ ep: "cpu", intraOpThreads: threads });
  try {
    const K = spec.n / spec.tile;
    const C: Float32Array[][] = [];
    for (let i = 0; i < K; i++) {
      const as = Array.from({ length: K }, (_, k) => generateTileA(spec, i, k));
      const row: Float32Array[] = [];
      for (let j = 0; j < K; j++) {
        const bs = Array.from({ length: K }, (_, k) => generateTileB(spec, k, j));
        row.push(await runner.matmulInner(as, bs, spec.tile));
      }
      C.push(row);
    }
    return C;
  } finally {
    await runner.dispose();
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  let spec: MatmulJobSpec;
  try {
    spec = validateJobSpec({ n: flags.n, tile: flags.tile, mode: flags.mode, seed: 1 });
  } catch (err) {
    throw new FlagError(`--n ${flags.n} --tile ${flags.tile}: ${(err as Error).message}`);
  }
  const K = spec.n / spec.tile;
  const setupStarted = performance.now();
  const C = await computeOutput(spec, flags.threads);
  const setupSeconds = (performance.now() - setupStarted) / 1000;

  const bad = C[K - 1]![0]!.slice();
  // Exact mode catches any change; float mode one above its per-element tolerance (a few
  // hundred at n = 8192: the rounding bound grows with |A|·|B|, see libs/matrix freivalds.ts).
  bad[bad.length - 1] = bad[bad.length - 1]! + (spec.mode === "exact" ? 1 : 10_000);
  const checks = spec.mode === "exact" ? (["rows", "tiles"] as const) : (["tiles"] as const);
  const seconds = { rows: [] as number[], tiles: [] as number[], oneWrong: [] as number[] };
  for (let r = 0; r < flags.rounds; r++) {
    for (const check of checks) {
      const started = performance.now();
      const v = await verifyJob(spec, (i, j) => C[i]![j]!, { check, verifySeed: r + 1 });
      seconds[check].push((performance.now() - started) / 1000);
      if (!v.verified)
        throw new Error(`${check} check rejected a correct output: ${v.failures[0]?.reason}`);
    }
    const started = performance.now();
    const v = await verifyJob(spec, (i, j) => (i === K - 1 && j === 0 ? bad : C[i]![j]!), {
      verifySeed: r + 1,
    });
    seconds.oneWrong.push((performance.now() - started) / 1000);
    if (v.failures.length !== 1) {
      throw new Error(`the check named ${v.failures.length} tiles for one wrong element`);
    }
  }
  console.log(
    JSON.stringify({
      bench: "verify",
      spec,
      setupSeconds: round3(setupSeconds),
      medianSeconds: {
        rows: seconds.rows.length ? round3(median(seconds.rows)) : null,
        tiles: round3(median(seconds.tiles)),
        oneWrong: round3(median(seconds.oneWrong)),
      },
      rowsSpeedup: seconds.rows.length
        ? round3(median(seconds.tiles) / median(seconds.rows))
        : null,
      seconds: {
        rows: seconds.rows.map(round3),
        tiles: seconds.tiles.map(round3),
        oneWrong: seconds.oneWrong.map(round3),
      },
      definitions: {
        rows: 'verifyJob, check "rows" (the default in exact mode), correct output',
        tiles: 'verifyJob, check "tiles" (float mode\'s only one), correct output',
        oneWrong: "verifyJob (the mode's default check) with one element of the last row block off",
        setupSeconds: "computing the output through the agent's ORT kernel (not timed above)",
      },
    }),
  );
}

runBench("verify", main);
