// `pnpm bench kernel [--tiles 512,1024,2048] [--threads 1,2] [--reps N] [--rounds N]
//                    [--ep auto|cuda|cpu] [--ops MatMul,Gemm,int8] [--spin on|off] [--baseline on|off]`
//
// Tile GEMM throughput through ONNX Runtime (the agent's own KernelRunner, so this measures the
// code path agents run), with session creation, tensor set-up and the first (warm-up) run timed
// separately from steady-state runs. When numpy is importable, the same shapes are timed with
// numpy/OpenBLAS in a child process pinned to the same thread count, interleaved round by round
// with the ORT runs so both see the same background load. Op int8 is the exact-mode map kernel in
// 8-bit integers (uint8·int8 MatMulInteger, the agent's bindMatmulInt8; CPU only), on integers
// within ±45 as an n = 8192 exact job has; numpy's figures beside it are still float32 SGEMM.
// Last stdout line: one JSON object.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { type ExecutionProviderChoice, type GemmOp, KernelRunner } from "@tessera/agent";
import { FlagError, intsIn } from "./_cli.js";

/** The map kernels this bench can time: the float32 GEMM through either op, or the 8-bit one. */
type KernelOp = GemmOp | "int8";

interface Flags {
  tiles: number[];
  threads: number[];
  reps: number;
  rounds: number;
  ep: ExecutionProviderChoice;
  ops: KernelOp[];
  spin: boolean;
  baseline: boolean;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = {
    tiles: [512, 1024, 2048],
    threads: [1, 2],
    reps: 10,
    rounds: 3,
    ep: "cpu",
    ops: ["MatMul", "Gemm", "int8"],
    spin: false,
    baseline: true,
  };
  const onOff = (name: string, v: string) => {
    if (v !== "on" && v !== "off") throw new FlagError(`--${name}: must be on or off, got "${v}"`);
    return v === "on";
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, "") ?? "";
    const value = argv[i + 1];
    if (value === undefined) throw new FlagError(`--${name}: missing value`);
    switch (name) {
      case "tiles":
        flags.tiles = intsIn(name, value, 16, 8192);
        break;
      case "threads":
        flags.threads = intsIn(name, value, 1, 256);
        break;
      case "reps":
        [flags.reps] = intsIn(name, value, 1, 10_000) as [number];
        break;
      case "rounds":
        [flags.rounds] = intsIn(name, value, 1, 100) as [number];
        break;
      case "ep":
        if (value !== "auto" && value !== "cuda" && value !== "cpu") {
          throw new FlagError(`--ep: must be auto, cuda or cpu, got "${value}"`);
        }
        flags.ep = value;
        break;
      case "ops":
        flags.ops = value.split(",").map((op) => {
          if (op !== "MatMul" && op !== "Gemm" && op !== "int8")
            throw new FlagError(`--ops: "${op}" must be MatMul, Gemm or int8`);
          return op;
        });
        break;
      case "spin":
        flags.spin = onOff(name, value);
        break;
      case "baseline":
        flags.baseline = onOff(name, value);
        break;
      default:
        throw new FlagError(`unknown flag --${name}`);
    }
  }
  return flags;
}

/** numpy/OpenBLAS timing child: one per thread count, because OpenBLAS reads its env at start. */
const NUMPY_CHILD = `
import sys, json, time
import numpy as np
info = {"numpy": np.__version__}
try:
    cfg = np.show_config(mode="dicts")
    info["blas"] = cfg["Build Dependencies"]["blas"].get("name")
    info["blasVersion"] = cfg["Build Dependencies"]["blas"].get("version")
except Exception as e:
    info["blas"] = "unknown"
print(json.dumps(info), flush=True)
rng = np.random.default_rng(1)
cache = {}
for line in sys.stdin:
    t, reps = map(int, line.split())
    if t not in cache:
        cache[t] = [rng.random((t, t), dtype=np.float32) for _ in range(3)]
    a, b, c = cache[t]
    np.matmul(a, b, out=c)
    times = []
    for _ in range(reps):
        s = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append((time.perf_counter() - s) * 1e3)
    print(json.dumps(times), flush=True)
`;

interface NumpyChild {
  info: Record<string, unknown>;
  time(tile: number, reps: number): Promise<number[]>;
  close(): void;
}

async function startNumpy(threads: number): Promise<NumpyChild | string> {
  const env = { ...process.env };
  for (const k of ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"])
    env[k] = String(threads);
  const child = spawn("python3", ["-c", NUMPY_CHILD], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const spawnFailed = new Promise<string>((resolve) =>
    child.on("error", (e) => resolve(e.message)),
  );
  const first = await Promise.race([lines.next(), spawnFailed]);
  if (typeof first === "string" || first.done) {
    child.kill();
    return typeof first === "string"
      ? `python3 not runnable: ${first}`
      : `numpy not importable: ${stderr.trim().split("\n").pop()}`;
  }
  const info = JSON.parse(first.value) as Record<string, unknown>;
  return {
    info,
    async time(tile, reps) {
      child.stdin.write(`${tile} ${reps}\n`);
      const next = await lines.next();
      if (next.done) throw new Error(`numpy child exited: ${stderr}`);
      return JSON.parse(next.value) as number[];
    },
    close() {
      child.stdin.end();
      child.kill();
    },
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] as number;
};
const gflops = (tile: number, ms: number) => (2 * tile ** 3) / (ms / 1e3) / 1e9;
const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

async function timeOrt(run: () => Promise<unknown>, reps: number): Promise<number[]> {
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    await run();
    times.push(performance.now() - s);
  }
  return times;
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const results: Record<string, unknown>[] = [];
  const baselines: Record<string, unknown> = {};
  let provider = "";
  let fallbackReason: string | undefined;

  for (const threads of flags.threads) {
    const numpy = flags.baseline ? await startNumpy(threads) : "disabled (--baseline off)";
    if (typeof numpy === "string")
      baselines[`threads${threads}`] = { available: false, reason: numpy };
    else baselines[`threads${threads}`] = { available: true, ...numpy.info };
    try {
      for (const tile of flags.tiles) {
        const elems = tile * tile;
        const a = Float32Array.from({ length: elems }, (_, x) => ((x * 2654435761) % 1000) / 1000);
        const b = Float32Array.from({ length: elems }, (_, x) => ((x * 40503) % 997) / 997);
        const a8 = Uint8Array.from({ length: elems }, (_, x) => ((x * 2654435761) % 91) - 45 + 128);
        const b8 = Int8Array.from({ length: elems }, (_, x) => ((x * 40503) % 91) - 45);
        for (const op of flags.ops) {
          const runner = await KernelRunner.create({
            ep: flags.ep,
            intraOpThreads: threads,
            gemmOp: op === "int8" ? "MatMul" : op,
            allowSpinning: flags.spin,
            int8: "off",
          });
          provider = runner.executionProvider;
          fallbackReason = runner.fallbackReason;
          if (op === "int8" && runner.executionProvider !== "cpu") {
            results.push({ tile, threads, op, skipped: "the 8-bit map kernel runs on CPU only" });
            await runner.dispose();
            continue;
          }
          let s = performance.now();
          await runner.session(op === "int8" ? "map-int8" : "map", tile);
          const sessionCreateMs = performance.now() - s;
          s = performance.now();
          const bound =
            op === "int8"
              ? await runner.bindMatmulInt8(a8, b8, tile)
              : await runner.bindMatmul(a, b, tile);
          const tensorSetupMs = performance.now() - s;
          s = performance.now();
          await bound.run();
          const firstRunMs = performance.now() - s;

          const ortRounds: number[] = [];
          const npRounds: number[] = [];
          const ortAll: number[] = [];
          const npAll: number[] = [];
          for (let round = 0; round < flags.rounds; round++) {
            const ot = await timeOrt(() => bound.run(), flags.reps);
            ortAll.push(...ot);
            ortRounds.push(median(ot));
            if (typeof numpy !== "string") {
              const nt = await numpy.time(tile, flags.reps);
              npAll.push(...nt);
              npRounds.push(median(nt));
            }
          }
          await runner.dispose();
          // The least-disturbed round stands for each side: this machine is shared, and a
          // round that lost the CPU to someone else says nothing about either library.
          const ortMs = Math.min(...ortRounds);
          const row: Record<string, unknown> = {
            tile,
            threads,
            op,
            provider: runner.executionProvider,
            sessionCreateMs: round3(sessionCreateMs),
            tensorSetupMs: round3(tensorSetupMs),
            firstRunMs: round3(firstRunMs),
            runMsMedian: round3(ortMs),
            runMsBest: round3(Math.min(...ortAll)),
            gflops: round1(gflops(tile, ortMs)),
            gflopsBest: round1(gflops(tile, Math.min(...ortAll))),
            gflopsAllRoundMedians: ortRounds.map((ms) => round1(gflops(tile, ms))),
          };
          if (npRounds.length > 0) {
            const npMs = Math.min(...npRounds);
            row.numpyGflops = round1(gflops(tile, npMs));
            row.numpyGflopsBest = round1(gflops(tile, Math.min(...npAll)));
            row.numpyAllRoundMedians = npRounds.map((ms) => round1(gflops(tile, ms)));
            row.ratioToNumpy = round3(npMs / ortMs);
            row.ratioToNumpyBest = round3(Math.min(...npAll) / Math.min(...ortAll));
          }
          results.push(row);
          console.error(
            `tile ${tile} threads ${threads} ${op}: ${row.gflops} GFLOP/s (best ${row.gflopsBest})` +
              (row.numpyGflops !== undefined
                ? `, numpy ${row.numpyGflops} → ratio ${row.ratioToNumpy}`
                : ""),
          );
        }
      }
    } finally {
      if (typeof numpy !== "string") numpy.close();
    }
  }

  const target = results.find((r) => r.tile === 1024 && r.threads === 1 && r.op === flags.ops[0]);
  const summary = {
    bench: "kernel",
    executionProvider: provider,
    ...(fallbackReason ? { cudaFallbackReason: fallbackReason } : {}),
    flags,
    cpus: (await import("node:os")).cpus().length,
    loadavg: (await import("node:os")).loadavg().map(round3),
    baselines,
    target:
      target && target.ratioToNumpy !== undefined
        ? {
            what: "tile 1024, 1 thread, ORT ≥ 90% of numpy/OpenBLAS SGEMM (least-disturbed round medians)",
            ratio: target.ratioToNumpy,
            ratioBest: target.ratioToNumpyBest,
            met: (target.ratioToNumpy as number) >= 0.9,
          }
        : { what: "tile 1024, 1 thread vs numpy", met: null, reason: "no baseline in this run" },
    results,
  };
  console.log(JSON.stringify(summary));
}

main().catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  console.error(`kernel bench: ${e.message ?? String(err)}`);
  console.log(
    JSON.stringify({
      bench: "kernel",
      error: { code: e.code ?? "TESSERA_E_BENCH", message: e.message },
    }),
  );
  process.exit(1);
});
