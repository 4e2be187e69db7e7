// `pnpm bench e2e-matmul [--n 8192] [--tile 1024|2048] [--agents 2] [--seed 1] [--reps 5] [--runs 1]
//  [--kernel-threads N] [--k-per-map auto|D] [--int8 1|0]`
//
// The whole system on one exact-mode matmul: a local cluster as real processes (the CLI's
// DevCluster via @tessera/test-e2e: nats-server, 3 consensus peers, scheduler, storage-manager,
// agents with their default slots and one ORT thread per kernel, fs storage), the job submitted
// through the `tessera` CLI and waited for until verified. --kernel-threads sets the agents'
// TESSERA_AGENT_KERNEL_THREADS (0: kernels on the agent's JS thread; absent: the agent's default).
// --k-per-map D submits the job with kPerMap = D: each map sums D inner tiles before it stores
// its partial (K³/D partials instead of K³; the output and its digest are the same). The default,
// auto, is what `tessera job submit` picks when not told (libs/matrix autoKPerMap).
// --int8 0 starts the agents with TESSERA_AGENT_INT8=off: every map in float32 (the default, 1,
// lets exact-mode maps run as exact 8-bit GEMMs where the job's element bound allows).
//
// - Inputs are staged in storage (every A and B tile, encoded as the agents store them) before
//   the clock starts; staging is reported separately.
// - Wall = submit → every reduce committed (job.computed, leader-stamped), and submit → verified.
// - GFLOP/s = 2n³ / wall-to-computed.
// - Peak = the agent's own KernelRunner (cpu, 1 intra-op thread) on the job's map kernel — one
//   [tile × kPerMap·tile]·[kPerMap·tile × tile] GEMM, a tile GEMM when kPerMap is 1 (the packed
//   one runs faster per FLOP), in 8-bit integers (mapKernel int8) where the agents' runner picks
//   that for the job's element bound, float32 otherwise — measured in this run before the cluster
//   starts and again after the runs (each the best of --reps rounds of median-of-5; the better of
//   the two counts, as for the concurrent peak); kernelPeakMsPerTile is the time of one such
//   call. With int8, the float32 peak is measured too (float32KernelPeakGflopsPerThread).
//   Efficiency = achieved ÷ (agents × peak). Also measured: the concurrent peak, `agents` such
//   kernels in separate processes timed at the same moment (on a VM whose vCPUs share physical
//   cores it is well below agents × peak), and efficiencyVsConcurrentPeak = achieved ÷ that.
// - Durable-write floor: the job stores K³/D partials and K² outputs (fsynced); the same fs store
//   timed on this disk with four writers per agent (tile-sized puts, before the first job) gives
//   MiB/s, and bytes ÷ that = seconds of disk no schedule can avoid.
// - Critical-path compute = the busiest agent's summed kernel time (computeMs in its completion
//   reports; a task's first ok completion only: a losing speculative attempt is counted in
//   speculativeLosers instead); control-plane overhead = wall − critical-path compute (it
//   includes tile I/O).
// - --runs N submits N jobs one after another on the same cluster (inputs staged once): the
//   top-level figures are the median run's (by wall), with every run's wall and GFLOP/s listed,
//   because this shared 2-core box swings ±15 % from run to run. Run 1 meets cold agents (ORT
//   sessions built on first use, empty input-tile caches); later runs reuse both, as jobs over a
//   shared dataset would.
// - Per run, cpuSeconds: every service process's CPU (/proc) from submit until the CLI returned,
//   and verifySeconds: job.computed → verified (the storage-manager's Freivalds check).
// - agentOccupancy and bottleneck: `tessera job profile` of the run (cli/src/job-profile.ts).
// Last stdout line: one JSON object.
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { KernelRunner, type MapKernel } from "@tessera/agent";
import { ClusterClient, loadJobProfile } from "@tessera/cli";
import {
  autoKPerMap,
  encodeTile,
  exactElementBound,
  generateTile,
  inputKey,
  type MatmulJobSpec,
  tileFileBytes,
  tileModeOf,
  validateJobSpec,
} from "@tessera/matrix";
import type { CompletionV1 } from "@tessera/protocol";
import { createObjectStore } from "@tessera/storage";
import { CompletionWatcher, E2eCluster, getJob, natsUrls, submitViaCli } from "@tessera/test-e2e";
import { cpuSince, machineBusySince, machineCpu } from "./_cpu.js";

interface Flags {
  n: number;
  tile: number;
  agents: number;
  seed: number;
  reps: number;
  /** Jobs run one after another on the same cluster (same staged inputs). */
  runs: number;
  /** Agents' kernel worker threads; -1 = the agent's default. */
  "kernel-threads": number;
  /** Inner tiles per map (the job spec's kPerMap); AUTO = autoKPerMap(n, tile). */
  "k-per-map": number;
  /** 1: the agents' default (8-bit exact maps where allowed); 0: TESSERA_AGENT_INT8=off. */
  int8: number;
}

/**
 * The map GEMM the agents will use for this job: their KernelRunner's own choice (the same
 * start-up check, on the same machine, with the same setting).
 */
async function agentsMapKernel(spec: MatmulJobSpec, int8: boolean): Promise<MapKernel> {
  const runner = await KernelRunner.create({ ep: "cpu", int8: int8 ? "auto" : "off" });
  try {
    return runner.mapKernelFor(spec.mode === "exact" ? exactElementBound(spec.n) : undefined);
  } finally {
    await runner.dispose();
  }
}

/** `--k-per-map auto` (the default). */
const AUTO = -1;

function parseFlags(argv: readonly string[]): Flags {
  const f: Flags = {
    n: 8192,
    tile: 1024,
    agents: 2,
    seed: 1,
    reps: 5,
    runs: 1,
    "kernel-threads": -1,
    "k-per-map": AUTO,
    int8: 1,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = (argv[i] ?? "").replace(/^--/, "");
    const v = name === "k-per-map" && argv[i + 1] === "auto" ? AUTO : Number(argv[i + 1]);
    if (!(name in f))
      throw new Error(
        `unknown flag --${name}; flags: --n --tile --agents --seed --reps --runs --kernel-threads --k-per-map --int8`,
      );
    if (!Number.isInteger(v) || (v < 0 && v !== AUTO))
      throw new Error(
        `--${name}: ${argv[i + 1]} must be an integer${name === "k-per-map" ? " or auto" : ""}`,
      );
    (f as unknown as Record<string, number>)[name] = v;
  }
  return f;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? Number.NaN;
};
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/**
 * Single-thread GFLOP/s of the job's Map kernel (the agent's KernelRunner): [tile × inner] ·
 * [inner × tile] with inner = kPerMap·tile, the packed GEMM a grouped map runs (a plain tile GEMM
 * when kPerMap is 1). `beforeTiming` runs after the session is built and warmed up.
 */
async function kernelPeak(
  tile: number,
  inner: number,
  reps: number,
  kernel: MapKernel,
  beforeTiming?: () => Promise<void>,
): Promise<{ gflops: number; ms: number }> {
  const runner = await KernelRunner.create({ ep: "cpu", intraOpThreads: 1, int8: "off" });
  try {
    const elems = tile * inner;
    const bound =
      kernel === "int8"
        ? await runner.bindMatmulInt8(
            Uint8Array.from({ length: elems }, (_, x) => (x % 7) - 3 + 128),
            Int8Array.from({ length: elems }, (_, x) => (x % 5) - 2),
            tile,
            undefined,
            inner,
          )
        : await runner.bindMatmul(
            Float32Array.from({ length: elems }, (_, x) => (x % 7) - 3),
            Float32Array.from({ length: elems }, (_, x) => (x % 5) - 2),
            tile,
            undefined,
            inner,
          );
    await bound.run();
    await beforeTiming?.();
    const rounds: number[] = [];
    for (let r = 0; r < reps; r++) {
      const times: number[] = [];
      for (let k = 0; k < 5; k++) {
        const s = performance.now();
        await bound.run();
        times.push(performance.now() - s);
      }
      rounds.push(median(times));
    }
    const ms = Math.min(...rounds);
    return { gflops: (2 * tile * tile * inner) / (ms * 1e6), ms };
  } finally {
    await runner.dispose();
  }
}

/** Set in the children of concurrentKernelPeak: "tile,inner,reps,kernel". */
const PEAK_WORKER_ENV = "TESSERA_BENCH_E2E_PEAK_WORKER";

/**
 * The same kernel in `agents` processes at once, timed together (each waits at a barrier after
 * its warm-up): what the machine gives that many single-thread kernels side by side. On this
 * kind of VM two vCPUs may share a physical core or memory bandwidth, so this can be well below
 * agents × the solo peak, and no scheduler can beat it: efficiency is also reported against it.
 */
async function concurrentKernelPeak(
  tile: number,
  inner: number,
  reps: number,
  kernel: MapKernel,
  agents: number,
): Promise<{ gflops: number; msPerTile: number[] }> {
  const children = Array.from({ length: agents }, () =>
    spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, [PEAK_WORKER_ENV]: `${tile},${inner},${reps},${kernel}` },
      stdio: ["pipe", "pipe", "inherit"],
    }),
  );
  const lines = children.map((c) => createInterface({ input: c.stdout }));
  const nextLine = (i: number) =>
    new Promise<string>((resolve, reject) => {
      const rl = lines[i] as ReturnType<typeof createInterface>;
      const child = children[i] as (typeof children)[number];
      const onExit = (code: number | null) => reject(new Error(`peak worker exited (${code})`));
      child.once("exit", onExit);
      rl.once("line", (line) => {
        child.off("exit", onExit);
        resolve(line);
      });
    });
  try {
    await Promise.all(children.map((_, i) => nextLine(i))); // "ready"
    const results = children.map((_, i) => nextLine(i));
    for (const c of children) c.stdin.write("go\n");
    const ms = (await Promise.all(results)).map((l) => (JSON.parse(l) as { ms: number }).ms);
    return {
      gflops: ms.reduce((sum, m) => sum + (2 * tile * tile * inner) / (m * 1e6), 0),
      msPerTile: ms.map((m) => round(m, 2)),
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
  }
}

/** Child side of concurrentKernelPeak: warm up, say "ready", wait for "go", time, print. */
async function peakWorker(arg: string): Promise<void> {
  const [tile, inner, reps] = arg.split(",").map(Number) as [number, number, number];
  const kernel: MapKernel = arg.endsWith(",int8") ? "int8" : "float32";
  const stdin = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => stdin.once("line", () => resolve()));
  const peak = await kernelPeak(tile, inner, reps, kernel, async () => {
    process.stdout.write("ready\n");
    await go;
  });
  stdin.close();
  process.stdout.write(`${JSON.stringify(peak)}\n`);
}

/**
 * Durable puts of tile-sized objects through the fs store, `writers` at a time (each put: temp
 * file, fsync, link, directory fsync), as the agents' map and reduce outputs are written.
 */
async function storeWriteRate(
  storageSpec: string,
  tile: number,
  writers: number,
): Promise<{ mibPerSecond: number; puts: number }> {
  const store = createObjectStore({ backend: "fs", root: storageSpec.replace(/^fs:/, "") });
  const bytes = new Uint8Array(tileFileBytes(tile, tile)).fill(7);
  const puts = Math.max(writers * 4, Math.ceil((256 * 2 ** 20) / bytes.byteLength));
  const keys = Array.from({ length: puts }, (_, n) => `bench-write-probe/${n}.bin`);
  try {
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (next < keys.length) {
          await store.put(keys[next++] as string, bytes);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { mibPerSecond: (puts * bytes.byteLength) / 2 ** 20 / seconds, puts };
  } finally {
    await Promise.all(keys.map((k) => store.delete(k)));
    await store.close();
  }
}

async function stageInputs(
  storageSpec: string,
  spec: MatmulJobSpec,
): Promise<{ seconds: number; bytes: number; tiles: number }> {
  const root = storageSpec.replace(/^fs:/, "");
  const store = createObjectStore({ backend: "fs", root });
  const K = spec.n / spec.tile;
  const started = performance.now();
  let bytes = 0;
  let tiles = 0;
  try {
    for (const matrix of ["A", "B"] as const) {
      for (let r = 0; r < K; r++) {
        for (let c = 0; c < K; c++) {
          const data = generateTile(spec, matrix, r, c);
          const encoded = encodeTile(data, {
            rows: spec.tile,
            cols: spec.tile,
            mode: tileModeOf(spec.mode),
          });
          await store.put(inputKey(spec, matrix, r, c), encoded);
          bytes += encoded.byteLength;
          tiles++;
        }
      }
    }
  } finally {
    await store.close();
  }
  return { seconds: (performance.now() - started) / 1000, bytes, tiles };
}

/** The earliest completion of each task (by completedAt). */
function firstCompletions(completions: readonly CompletionV1[]): CompletionV1[] {
  const first = new Map<string, CompletionV1>();
  for (const c of completions) {
    const seen = first.get(c.taskId);
    if (!seen || c.completedAt < seen.completedAt) first.set(c.taskId, c);
  }
  return [...first.values()];
}

interface TimingTotals {
  compute: number;
  read: number;
  write: number;
  total: number;
  tasks: number;
}

/** Summed phase timings of completions, grouped by `keyOf` (agent, kind). */
function sumTimings(
  completions: readonly CompletionV1[],
  keyOf: (c: CompletionV1) => string,
): Map<string, TimingTotals> {
  const groups = new Map<string, TimingTotals>();
  for (const c of completions) {
    const key = keyOf(c);
    const g = groups.get(key) ?? { compute: 0, read: 0, write: 0, total: 0, tasks: 0 };
    g.compute += c.timings.computeMs;
    g.read += c.timings.readMs;
    g.write += c.timings.writeMs;
    g.total += c.timings.totalMs;
    g.tasks++;
    groups.set(key, g);
  }
  return groups;
}

/**
 * CPU seconds (user + system, /proc) each service process used over a run, their total, and the
 * share of the machine that is (kernel threads included: the agents' figures hold them).
 */
function cpuUsed(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  windowSeconds: number,
) {
  const { byService, total } = cpuSince(before, after);
  return {
    ...Object.fromEntries([...byService].map(([name, s]) => [name, round(s, 2)])),
    total: round(total, 2),
    windowSeconds: round(windowSeconds, 2),
    machineShare: round(total / (windowSeconds * availableParallelism()), 3),
  };
}

/** One job's figures: what the JSON reports at top level (for the median run) and per run. */
async function measureRun(cluster: E2eCluster, spec: MatmulJobSpec, jobId: string) {
  const flop = 2 * spec.n ** 3;
  const watcher = await CompletionWatcher.start(natsUrls(cluster), jobId);
  const cpuBefore = cluster.cpuSeconds();
  const machineBefore = machineCpu();
  const wallStart = Date.now();
  const summary = await submitViaCli(cluster, spec, jobId, 3_600_000).result;
  const cpu = {
    ...cpuUsed(cpuBefore, cluster.cpuSeconds(), (Date.now() - wallStart) / 1000),
    machineBusyFraction: machineBusySince(machineBefore),
  };
  const view = await getJob(cluster, jobId);
  await watcher.stop();
  if (!view) throw new Error(`job ${jobId} vanished`);
  const raw = view as unknown as {
    submittedAt: number;
    computedAt: number | null;
    finishedAt: number | null;
  };
  const computedS = ((raw.computedAt ?? Date.now()) - raw.submittedAt) / 1000;
  const verifiedS = ((raw.finishedAt ?? Date.now()) - raw.submittedAt) / 1000;

  // A speculative attempt that lost still reports: its kernel ran (often past job.computed),
  // but it is not on the job's critical path. The first ok completion of a task won.
  const allOk = watcher.completions.filter((c) => c.status === "ok");
  const ok = firstCompletions(allOk);
  const speculativeLosers = allOk.length - ok.length;
  const perAgent = sumTimings(ok, (c) => c.nodeId);
  const perKind = sumTimings(ok, (c) => c.kind);
  const criticalComputeS = Math.max(0, ...[...perAgent.values()].map((a) => a.compute)) / 1000;
  const criticalBusyS = Math.max(0, ...[...perAgent.values()].map((a) => a.total)) / 1000;
  const achieved = flop / (computedS * 1e9);
  const profile = await loadJobProfile(
    new ClusterClient(cluster.info.peers.map((p) => p.http)),
    natsUrls(cluster),
    jobId,
  );
  return {
    jobId,
    status: summary.status,
    verified: summary.verified,
    digest: summary.digest,
    wallSeconds: round(computedS),
    wallToVerifiedSeconds: round(verifiedS),
    verifySeconds: round(verifiedS - computedS),
    cliWallSeconds: round((Date.now() - wallStart) / 1000),
    gflops: round(achieved, 2),
    bytesMoved: summary.bytesMoved,
    criticalPathComputeSeconds: round(criticalComputeS),
    criticalPathBusySeconds: round(criticalBusyS),
    controlPlaneOverheadSeconds: round(computedS - criticalComputeS),
    controlPlaneOverheadFraction: round((computedS - criticalComputeS) / computedS, 3),
    overheadBeyondAgentBusySeconds: round(computedS - criticalBusyS),
    completionsSeen: ok.length,
    speculativeLosers,
    agentOccupancy: profile.occupancy,
    bottleneck: profile.bottleneck,
    cpuSeconds: cpu,
    perAgent: Object.fromEntries(
      [...perAgent.entries()].map(([id, a]) => [
        id,
        {
          tasks: a.tasks,
          computeSeconds: round(a.compute / 1000),
          readSeconds: round(a.read / 1000),
          writeSeconds: round(a.write / 1000),
          busySeconds: round(a.total / 1000),
        },
      ]),
    ),
    perKind: Object.fromEntries(
      [...perKind.entries()].map(([kind, k]) => [
        kind,
        {
          tasks: k.tasks,
          meanReadMs: round(k.read / k.tasks, 2),
          meanComputeMs: round(k.compute / k.tasks, 2),
          meanWriteMs: round(k.write / k.tasks, 2),
        },
      ]),
    ),
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const spec: MatmulJobSpec = validateJobSpec({
    n: flags.n,
    tile: flags.tile,
    mode: "exact",
    seed: flags.seed,
    kPerMap: flags["k-per-map"] === AUTO ? autoKPerMap(flags.n, flags.tile) : flags["k-per-map"],
  });
  if (flags.runs < 1) throw new Error("--runs: must be ≥ 1");
  const K = spec.n / spec.tile;
  const maps = K ** 3 / (spec.kPerMap ?? 1);

  const inner = spec.tile * (spec.kPerMap ?? 1);
  const mapKernel = await agentsMapKernel(spec, flags.int8 === 1);
  const peakBefore = await kernelPeak(spec.tile, inner, flags.reps, mapKernel);
  const floatPeak =
    mapKernel === "int8" ? await kernelPeak(spec.tile, inner, flags.reps, "float32") : peakBefore;
  const peakTogether = () =>
    concurrentKernelPeak(spec.tile, inner, flags.reps, mapKernel, flags.agents);
  const togetherBefore = await peakTogether();
  process.stderr.write(
    `map kernel peak (${mapKernel}, 1 thread, ${spec.tile}×${inner}·${inner}×${spec.tile}): ${round(peakBefore.gflops, 2)} GFLOP/s alone, ` +
      `${round(togetherBefore.gflops, 2)} GFLOP/s for ${flags.agents} at once (ms/call ${togetherBefore.msPerTile.join(", ")})\n`,
  );

  const kernelThreads = flags["kernel-threads"];
  const cluster = await E2eCluster.start({
    agents: flags.agents,
    env: {
      ...(kernelThreads >= 0 ? { TESSERA_AGENT_KERNEL_THREADS: String(kernelThreads) } : {}),
      ...(flags.int8 === 1 ? {} : { TESSERA_AGENT_INT8: "off" }),
    },
  });
  try {
    const staging = await stageInputs(cluster.storageSpec, spec);
    process.stderr.write(`staged ${staging.tiles} input tiles in ${round(staging.seconds, 2)} s\n`);
    // Four writers per agent: more than its two slots ever write at once.
    const writeRate = await storeWriteRate(cluster.storageSpec, spec.tile, flags.agents * 4);
    const durableBytes = (maps + K ** 2) * tileFileBytes(spec.tile, spec.tile);
    const diskFloorSeconds = durableBytes / 2 ** 20 / writeRate.mibPerSecond;
    process.stderr.write(
      `durable puts of ${spec.tile}-tiles: ${round(writeRate.mibPerSecond, 1)} MiB/s; the job writes ${round(durableBytes / 2 ** 30, 2)} GiB: ≥ ${round(diskFloorSeconds, 2)} s of disk\n`,
    );
    const runs: Awaited<ReturnType<typeof measureRun>>[] = [];
    for (let r = 1; r <= flags.runs; r++) {
      const jobId = `bench-e2e-${spec.n}-${spec.tile}${spec.kPerMap ? `-d${spec.kPerMap}` : ""}${flags.runs > 1 ? `-r${r}` : ""}`;
      const run = await measureRun(cluster, spec, jobId);
      process.stderr.write(
        `run ${r}: ${run.wallSeconds} s, ${run.gflops} GFLOP/s, per kind ${JSON.stringify(run.perKind)}\n`,
      );
      runs.push(run);
    }
    // Once more after the runs (the cluster idle): on a shared VM one measurement can catch a slow
    // minute (two kernels at 1,165 ms each where they took 600 alone and side by side later),
    // and the better of the two is what the machine can give.
    const togetherAfter = await peakTogether();
    const together = togetherAfter.gflops > togetherBefore.gflops ? togetherAfter : togetherBefore;
    const peakAfter = await kernelPeak(spec.tile, inner, flags.reps, mapKernel);
    const peak = peakAfter.gflops > peakBefore.gflops ? peakAfter : peakBefore;
    const efficiencyOf = (gflops: number) => round(gflops / (flags.agents * peak.gflops), 3);
    // The median run (by wall time) speaks for the benchmark; every run is listed too.
    const byWall = [...runs].sort((a, b) => a.wallSeconds - b.wallSeconds);
    const medianRun = byWall[Math.floor((byWall.length - 1) / 2)] as (typeof runs)[number];
    const walls = runs.map((r) => r.wallSeconds);
    const result = {
      bench: "e2e-matmul",
      spec,
      tiles: K,
      kPerMap: spec.kPerMap ?? 1,
      tasks: maps + K ** 2,
      agents: flags.agents,
      agentKernelThreads: kernelThreads >= 0 ? kernelThreads : "agent default (1)",
      ...medianRun,
      efficiency: efficiencyOf(medianRun.gflops),
      verified: runs.every((r) => r.verified === true),
      staging: { seconds: round(staging.seconds), tiles: staging.tiles, bytes: staging.bytes },
      mapKernel,
      kernelPeakGflopsPerThread: round(peak.gflops, 2),
      kernelPeakGflopsPerThreadBeforeAfter: [
        round(peakBefore.gflops, 2),
        round(peakAfter.gflops, 2),
      ],
      float32KernelPeakGflopsPerThread: round(floatPeak.gflops, 2),
      kernelPeakMsPerTile: round(peak.ms, 2),
      kernelPeakShape: [spec.tile, inner, spec.tile],
      durableWrite: {
        bytesPerJob: durableBytes,
        storeMiBPerSecond: round(writeRate.mibPerSecond, 1),
        floorSeconds: round(diskFloorSeconds),
        ceilingGflops: round((2 * spec.n ** 3) / (diskFloorSeconds * 1e9), 1),
      },
      concurrentKernelPeakGflops: round(together.gflops, 2),
      concurrentKernelMsPerTile: together.msPerTile,
      concurrentKernelPeakGflopsBeforeAfter: [
        round(togetherBefore.gflops, 2),
        round(togetherAfter.gflops, 2),
      ],
      efficiencyVsConcurrentPeak: round(medianRun.gflops / together.gflops, 3),
      runs: runs.length,
      wallSecondsPerRun: walls,
      gflopsPerRun: runs.map((r) => r.gflops),
      efficiencyPerRun: runs.map((r) => efficiencyOf(r.gflops)),
      cpuSecondsPerRun: runs.map((r) => r.cpuSeconds.total),
      verifySecondsPerRun: runs.map((r) => r.verifySeconds),
      digestsAgree: runs.every((r) => r.digest === medianRun.digest),
      definitions: {
        wallSeconds: "submit → every reduce committed (leader-stamped job.computed); median run",
        gflops: "2n³ / wallSeconds",
        mapKernel:
          "the GEMM the agents' runner picks for this job (int8: exact 8-bit integers, exact mode with element bound ≤ 79 and the runner's start-up check passed; float32 otherwise or with --int8 0)",
        efficiency:
          "gflops ÷ (agents × single-thread KernelRunner peak of the job's map kernel (mapKernel): tile × kPerMap·tile · kPerMap·tile × tile)",
        concurrentKernelPeakGflops:
          "agents single-thread kernels timed at the same moment in separate processes, summed: the most this machine gives them side by side; the better of a measurement before the cluster starts and one after the runs (concurrentKernelPeakGflopsBeforeAfter)",
        efficiencyVsConcurrentPeak: "gflops ÷ concurrentKernelPeakGflops",
        durableWrite:
          "partials + outputs fsynced per job; storeMiBPerSecond: the fs store's durable tile-sized puts, agents × 4 writers, timed before the first job; floorSeconds = bytes ÷ that",
        criticalPathComputeSeconds:
          "busiest agent's summed kernel computeMs (each task's first ok completion; speculativeLosers counts the others)",
        controlPlaneOverheadSeconds: "wallSeconds − criticalPathComputeSeconds (includes tile I/O)",
        verified: "every run verified",
        agentOccupancy:
          "mean over agents of the share of the compute window with a work item running (tessera job profile)",
        bottleneck:
          "tessera job profile's verdict: control-plane when agentOccupancy < 0.6, else the phase (kernel, storage-write, storage-read) that took most of the agents' time",
        verifySeconds:
          "job.computed → job verified (leader-stamped): the storage-manager's Freivalds check of every output tile plus the digest",
        cpuSeconds:
          "CPU (user + system, /proc) of each service process from submit until the CLI returned (verified), agents' kernel threads included, nats-server and the CLI not; machineShare = total ÷ (window × cores); machineBusyFraction = share of all cores busy over the same window, whoever used them (nats-server, the CLI, other tenants, the kernel too): near 1, the cores were the limit; empty or null where /proc is not",
        runs: "run 1 meets cold agents (sessions built, input caches empty); later runs reuse both",
      },
      reference: {
        dask: {
          source: "issue 5: Dask distributed, blocked A@B in memory, no durability, same machine",
          n: 8192,
          gflopsChunk1024: 129,
          gflopsChunk2048: 172,
          openblas2ThreadLimitGflops: 206,
        },
        targets: { efficiency: 0.9, overheadFraction: 0.1 },
      },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await cluster.stop();
  }
}

const peakWorkerArg = process.env[PEAK_WORKER_ENV];
(peakWorkerArg ? peakWorker(peakWorkerArg) : main()).catch((err: unknown) => {
  process.stderr.write(`e2e-matmul: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
