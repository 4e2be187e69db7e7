// `pnpm bench kernel-trip [--tile 1024] [--k-per-map 8] [--maps 8] [--rounds 3]`
//
// What a map costs the agent beyond its GEMM on a kernel thread (KernelThreads, the path every
// map larger than 256² takes), side by side in one process, round by round:
// - staged: input tiles in ordinary memory; the JS thread packs them into the thread's shared
//   staging buffers and the thread copies them into its own (two passes over the operands);
// - shared: input tiles in shared memory (what the agent reads them into since
//   `inputTileAllocator`); the thread packs them into its own buffers (one pass, off the JS thread).
// Per map: wall time, the GEMM's own time, the JS thread's active time (event-loop utilization)
// and the process's CPU. Last stdout line: one JSON object.
import { performance } from "node:perf_hooks";
import { KernelRunner, KernelThreads } from "@tessera/agent";
import { FlagError, intIn, runBench } from "./_cli.js";

interface Flags {
  tile: number;
  kPerMap: number;
  maps: number;
  rounds: number;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { tile: 1024, kPerMap: 8, maps: 8, rounds: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, "") ?? "";
    const value = argv[i + 1];
    if (value === undefined) throw new FlagError(`--${name}: missing value`);
    switch (name) {
      case "tile":
        flags.tile = intIn(name, value, 257, 4096);
        break;
      case "k-per-map":
        flags.kPerMap = intIn(name, value, 1, 64);
        break;
      case "maps":
        flags.maps = intIn(name, value, 1, 1000);
        break;
      case "rounds":
        flags.rounds = intIn(name, value, 1, 100);
        break;
      default:
        throw new FlagError(`unknown flag --${name}; flags: --tile --k-per-map --maps --rounds`);
    }
  }
  if (flags.tile * flags.tile * flags.kPerMap > 2 ** 26) {
    throw new FlagError("--tile, --k-per-map: a packed operand of more than 2^26 floats (256 MiB)");
  }
  return flags;
}

type Mode = "staged" | "shared";

interface PerMap {
  wallMs: number;
  kernelMs: number;
  jsThreadActiveMs: number;
  processCpuMs: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

function tiles(mode: Mode, tile: number, count: number, seed: number): Float32Array[] {
  return Array.from({ length: count }, (_, x) => {
    const bytes = tile * tile * 4;
    const t = new Float32Array(
      mode === "shared" ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes),
    );
    for (let i = 0; i < t.length; i++) t[i] = ((i * (x + seed)) % 13) - 6;
    return t;
  });
}

async function timeMaps(
  kernels: KernelThreads,
  as: Float32Array[],
  bs: Float32Array[],
  flags: Flags,
  out: Float32Array,
): Promise<PerMap> {
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const started = performance.now();
  let kernelMs = 0;
  for (let m = 0; m < flags.maps; m++) {
    const timing = { waitMs: 0, kernelMs: 0 };
    await kernels.matmulInner(as, bs, flags.tile, out, timing);
    kernelMs += timing.kernelMs;
  }
  const used = process.cpuUsage(cpu);
  return {
    wallMs: (performance.now() - started) / flags.maps,
    kernelMs: kernelMs / flags.maps,
    jsThreadActiveMs: performance.eventLoopUtilization(elu).active / flags.maps,
    processCpuMs: (used.user + used.system) / 1000 / flags.maps,
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const kernels = new KernelThreads(await KernelRunner.create({ ep: "cpu", intraOpThreads: 1 }), {
    threads: 1,
  });
  try {
    const modes: Mode[] = ["staged", "shared"];
    const operands = Object.fromEntries(
      modes.map((m) => [
        m,
        [tiles(m, flags.tile, flags.kPerMap, 1), tiles(m, flags.tile, flags.kPerMap, 2)],
      ]),
    ) as Record<Mode, [Float32Array[], Float32Array[]]>;
    const out = new Float32Array(flags.tile * flags.tile);
    const runs: Record<Mode, PerMap[]> = { staged: [], shared: [] };
    for (let r = 0; r < flags.rounds; r++) {
      for (const mode of modes) {
        const [as, bs] = operands[mode];
        await kernels.matmulInner(as, bs, flags.tile, out); // buffers sized, session built
        runs[mode].push(await timeMaps(kernels, as, bs, flags, out));
      }
    }
    const summary = (mode: Mode) => {
      const keys: (keyof PerMap)[] = ["wallMs", "kernelMs", "jsThreadActiveMs", "processCpuMs"];
      return Object.fromEntries(keys.map((k) => [k, round2(median(runs[mode].map((x) => x[k])))]));
    };
    console.log(
      JSON.stringify({
        bench: "kernel-trip",
        flags,
        operandMiBPerMap: round2((2 * flags.kPerMap * flags.tile ** 2 * 4) / 2 ** 20),
        perMapMedian: { staged: summary("staged"), shared: summary("shared") },
        rounds: runs,
        definitions: {
          wallMs: "matmulInner call to its result, one map after another on one kernel thread",
          kernelMs: "the GEMM's own run time on the thread",
          jsThreadActiveMs: "the calling (agent) thread's busy time (event-loop utilization)",
          processCpuMs: "user + system CPU of the whole process (both threads)",
        },
      }),
    );
  } finally {
    await kernels.dispose();
  }
}

runBench("kernel-trip", main);
