// `pnpm bench planner [--k 64] [--done 0,10000,100000,250000] [--live 32] [--passes 300]`
//
// The scheduler's planning pass (the pure core the process runs after every committed event
// batch) on one job of K³ maps + K² reduces (K = 64: 266,240 tasks), at several points of
// its progress: `--done` maps completed in start order, `--live` attempts running, and the
// nodes' slots full but one, so each pass places exactly one attempt, as in a busy cluster.
// Views are built by applying real event batches through the same reducer the process uses.
//
// Measured per level: plan() µs per pass (median, p99 of --passes, after 20 warm-up passes), applyBatch µs per
// completion event, and the size of the planner's working set (unsettled tasks). A pass that
// grows with `done` makes every task of a big job pay for all the tasks before it.
// Last stdout line: one JSON object.
import { performance } from "node:perf_hooks";
import type { ManifestEvent } from "@tessera/protocol";
import {
  applyBatch,
  DEFAULT_DEADLINES,
  DEFAULT_RETRY,
  DurationStats,
  emptyView,
  type PlannerConfig,
  plan,
  type SchedulerView,
  StorageBreaker,
} from "@tessera/scheduler";
import { FlagError, intIn, intsIn, runBench } from "./_cli.js";

interface Flags {
  k: number;
  done: number[];
  live: number;
  passes: number;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { k: 64, done: [0, 10_000, 100_000, 250_000], live: 32, passes: 300 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, "") ?? "";
    const value = argv[i + 1];
    if (value === undefined) throw new FlagError(`--${name}: missing value`);
    if (name === "k") flags.k = intIn(name, value, 2, 200);
    else if (name === "done") flags.done = intsIn(name, value, 0, 8e6);
    else if (name === "live") flags.live = intIn(name, value, 1, 10_000);
    else if (name === "passes") flags.passes = intIn(name, value, 1, 100_000);
    else throw new FlagError(`unknown flag --${name}`);
  }
  const maps = flags.k ** 3;
  const over = flags.done.find((d) => d + flags.live > maps);
  if (over !== undefined)
    throw new FlagError(`--done: ${over} + --live ${flags.live} exceeds the job's ${maps} maps`);
  return flags;
}

const JOB = "bench-planner";
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};

/** A view of the job with `done` maps completed and `live` more running, and its durations. */
function buildView(k: number, done: number, live: number) {
  const view: SchedulerView = emptyView();
  const durations = new DurationStats();
  let index = 0;
  const apply = (at: number, ...events: ManifestEvent[]) => {
    const out = applyBatch(view, { v: 1, index: ++index, term: 1, at, events });
    if (out.kind !== "applied") throw new Error(`batch ${index} not applied: ${out.kind}`);
  };
  apply(0, {
    category: "job",
    type: "submitted",
    jobId: JOB,
    spec: { n: k * 16, tile: 16, mode: "exact", seed: 1 },
    maps: k ** 3,
    reduces: k ** 2,
    maxAttempts: 4,
  });
  for (const nodeId of ["n1", "n2"]) {
    apply(0, {
      category: "node",
      type: "joined",
      nodeId,
      labels: { cloud: "local", region: "r1", zone: "z1", pool: "cpu" },
      // Slots for every live attempt plus one: each pass places exactly one.
      capacity: {
        slots: Math.ceil(live / 2) + (nodeId === "n1" ? 1 : 0),
        cpus: 8,
        memoryBytes: 2 ** 34,
        gpus: 0,
      },
      executionProvider: "cpu",
    });
  }
  const mapId = (m: number) => `m-${Math.floor(m / (k * k))}-${Math.floor(m / k) % k}-${m % k}`;
  const applyUs: number[] = [];
  for (let m = 0; m < done + live; m++) {
    const taskId = mapId(m);
    const nodeId = m % 2 ? "n2" : "n1";
    apply(m, {
      category: "task",
      type: "started",
      jobId: JOB,
      taskId,
      attempt: 1,
      kind: "map",
      nodeId,
      speculative: false,
    });
    if (m >= done) continue;
    const t0 = performance.now();
    apply(m + 5, {
      category: "task",
      type: "completed",
      jobId: JOB,
      taskId,
      attempt: 1,
      kind: "map",
      nodeId,
      output: { uri: `fs:///bench/${taskId}`, checksum: "00000000", bytes: 1024 },
    });
    applyUs.push((performance.now() - t0) * 1000);
    durations.add(JOB, "map", 5);
  }
  return { view, durations, applyUs };
}

runBench("planner", async () => {
  const flags = parseFlags(process.argv.slice(2));
  const cfg: PlannerConfig = {
    retry: DEFAULT_RETRY,
    deadlines: DEFAULT_DEADLINES,
    placement: { policy: "least-loaded", pools: [], cooldownMs: 10_000 },
    prefetch: { fixed: 0 },
    dataLocation: undefined,
    maxStartsPerPass: 64,
    batchMaxTasks: 64,
    armReduces: true, // the process default: the arming step is part of every pass
    unlistedAfterMs: 8_000,
  };
  const levels = [];
  for (const done of flags.done) {
    const { view, durations, applyUs } = buildView(flags.k, done, flags.live);
    const job = view.jobs.get(JOB);
    const inputs = {
      now: done + 1_000,
      inflight: new Set<string>(),
      runningOn: new Map<string, string>(),
      durations,
      breaker: new StorageBreaker(),
    };
    for (let p = 0; p < 20; p++) plan(view, cfg, inputs); // warm-up: JIT, caches
    const passUs: number[] = [];
    let starts = 0;
    for (let p = 0; p < flags.passes; p++) {
      const t0 = performance.now();
      const out = plan(view, cfg, inputs);
      passUs.push((performance.now() - t0) * 1000);
      starts += out.decisions.filter((d) => d.type === "start").length;
    }
    levels.push({
      done,
      live: flags.live,
      touchedTasks: job?.tasks.size ?? 0,
      // Absent when this bench runs against a scheduler build without the index (A/B).
      unsettledTasks: job && "unsettled" in job ? job.unsettled.size : null,
      planUsPerPass: { median: round(quantile(passUs, 0.5)), p99: round(quantile(passUs, 0.99)) },
      startsPerPass: round(starts / flags.passes, 2),
      applyCompletionUs: applyUs.length
        ? { median: round(quantile(applyUs, 0.5), 2), p99: round(quantile(applyUs, 0.99), 2) }
        : null,
    });
    process.stderr.write(
      `done ${done}: plan ${round(quantile(passUs, 0.5))} µs/pass (p99 ${round(quantile(passUs, 0.99))})\n`,
    );
  }
  console.log(
    JSON.stringify({
      bench: "planner",
      job: { tiles: flags.k, maps: flags.k ** 3, reduces: flags.k ** 2 },
      passes: flags.passes,
      levels,
      definitions: {
        planUsPerPass:
          "plan() wall time per pass, one job, slots full but one (one start per pass)",
        applyCompletionUs: "applyBatch of one task.completed event",
        unsettledTasks: "tasks the planner walks: live attempts and retries due",
      },
    }),
  );
});
