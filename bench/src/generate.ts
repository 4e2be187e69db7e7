// `pnpm bench generate [--n 8192] [--tile 1024] [--rounds 5]`
//
// Input-tile generation (libs/matrix generateTile) through the WebAssembly SIMD rows vs the
// JavaScript loop, interleaved round by round in one process. Per round: the 2·K² input tiles of
// the job generated afresh (allocation included, as the agents do) and into one reused buffer
// (as verification does; `pnpm bench verify` times the verification itself). Last stdout line:
// one JSON object.
import { generateTileWith, type MatmulJobSpec, simdRows, validateJobSpec } from "@tessera/matrix";
import { FlagError, intIn, runBench } from "./_cli.js";

const FLAG_RANGES: Record<string, [number, number]> = {
  n: [64, 65_536],
  tile: [16, 8192],
  rounds: [1, 100],
};

function parseFlags(argv: string[]): { n: number; tile: number; rounds: number } {
  const flags: Record<string, number> = { n: 8192, tile: 1024, rounds: 5 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, "") ?? "";
    const range = FLAG_RANGES[name];
    if (!range) throw new FlagError(`unknown flag --${name}; flags: --n --tile --rounds`);
    const value = argv[i + 1];
    if (value === undefined) throw new FlagError(`--${name}: missing value`);
    flags[name] = intIn(name, value, range[0], range[1]);
  }
  return { n: flags.n as number, tile: flags.tile as number, rounds: flags.rounds as number };
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

async function main(): Promise<void> {
  const { n, tile, rounds } = parseFlags(process.argv.slice(2));
  let spec: MatmulJobSpec;
  try {
    spec = validateJobSpec({ n, tile, mode: "exact", seed: 1 });
  } catch (err) {
    throw new FlagError(`--n ${n} --tile ${tile}: ${(err as Error).message}`);
  }
  const simd = simdRows();
  const K = spec.n / spec.tile;
  const paths = { simd, scalar: undefined } as const;
  type Path = keyof typeof paths;
  const fresh: Record<Path, number[]> = { simd: [], scalar: [] };
  const reused: Record<Path, number[]> = { simd: [], scalar: [] };
  const into = new Float32Array(spec.tile * spec.tile);
  const allTiles = (path: Path, out?: Float32Array) => {
    const started = performance.now();
    for (let a = 0; a < K; a++) {
      for (let b = 0; b < K; b++) {
        generateTileWith(paths[path], spec, "A", a, b, out);
        generateTileWith(paths[path], spec, "B", a, b, out);
      }
    }
    return (performance.now() - started) / (2 * K * K);
  };
  for (let r = 0; r < rounds; r++) {
    for (const path of ["simd", "scalar"] as const) {
      if (path === "simd" && !simd) continue;
      fresh[path].push(allTiles(path));
      reused[path].push(allTiles(path, into));
    }
  }
  const ms = (xs: number[]) => (xs.length ? round3(median(xs)) : null);
  console.log(
    JSON.stringify({
      bench: "generate",
      spec,
      simdAvailable: simd !== undefined,
      msPerTileMedian: {
        simd: { fresh: ms(fresh.simd), reused: ms(reused.simd) },
        scalar: { fresh: ms(fresh.scalar), reused: ms(reused.scalar) },
      },
      rounds: {
        fresh: { simd: fresh.simd.map(round3), scalar: fresh.scalar.map(round3) },
        reused: { simd: reused.simd.map(round3), scalar: reused.scalar.map(round3) },
      },
      definitions: {
        fresh: "ms per input tile, a new Float32Array each (its page faults included)",
        reused: "ms per input tile into one reused buffer",
      },
    }),
  );
}

runBench("generate", main);
