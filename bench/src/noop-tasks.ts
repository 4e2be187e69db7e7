// `pnpm bench noop-tasks [--tasks 10000] [--chain 1000] [--agents 2] [--mode empty|exact]
//                        [--tile 64] [--slots N] [--prefetch N] [--peers 3] [--warmup 2000]
//                        [--links plain|secured]`
//
// Control-plane throughput and latency with empty tasks, through the whole path on a local
// cluster of real processes (@tessera/test-e2e: nats-server, 3 consensus peers, scheduler,
// storage-manager, agents): submit-job commit → FSM derives tasks → events → scheduler
// attempt-start commit (fencing) → WorkItemV1 on TESSERA_WORK → agent pulls it → completion on
// TESSERA_CMD → consensus ingestion commits attempt-complete → event.
//
// WHAT IS MEASURED: "empty task" = a task of a matmul job in mode "empty" (--mode empty, the
// default): the same task graph (maps, then each reduce once its maps completed), and agents
// that read, compute and store nothing and report the empty output; the manifest records it and
// the job succeeds with no verdict to wait for. --mode exact runs tiny matmul tasks on --tile ×
// --tile tiles instead, each reading its inputs and storing a tile with fsync (and checked by the
// storage-manager, one outputs-verified per batch). Agents do not send a separate claim command
// (the attempt is bound at attempt-start), so the path has two Raft commits per task
// (attempt-start, attempt-complete).
// - tasks/s: one job with K³ maps + K² reduces, K = the smallest with ≥ --tasks tasks (n = tile·K);
//   tasks ÷ (last completion commit − first attempt-start commit). It runs on a warm cluster: a
//   warm-up job of ≥ --warmup tasks (default 2,000; 0 = none) goes first, because a fresh
//   cluster's first job also pays for V8 compiling its hot paths (a `perf` profile of a cold
//   run showed TurboFan at 10–25 % of the services' CPU). warmup.tasksPerSecond is that first,
//   cold job's rate, measured the same way.
// - raftEntries: commands the leader proposed over the throughput job and the log entries that
//   carried them (group commit: commands queued behind an uncommitted entry share the next one).
// - cpu: each service process's CPU (user + system, /proc) over the throughput job, in ms per
//   task, and servicesBusyFraction = their CPU ÷ (window × cores). machineBusyFraction: the share
//   of all cores busy from submit to computed, whoever used them (the services, nats-server, this
//   bench, other tenants of a shared host, the kernel): near 1, the cores were the limit; well
//   below, the path waited (I/O, round trips). natsServerMsPerTask and
//   totalWithNatsMsPerTask add the nats-server the cluster started (the bus's share of the work).
// - profile: `tessera job profile` of the throughput job (cli/src/job-profile.ts): the agents'
//   occupancy, their wall time by phase and the verdict.
// - dispatch latency per task: attempt-start commit (leader-stamped event time) → the agent
//   starting it (its completion's completedAt − totalMs; same host clock); p50/p99.
// - task latency: attempt-start commit → attempt-complete commit; p50/p99.
// - chain: --chain jobs of one map + one reduce (n = tile) run one after another; a hop is
//   the reduce's dependency on the map: map completion commit → reduce completion commit
//   (reduce-ready, scheduler attempt-start commit, work item, agent run, completion commit).
//   hopStagesMs splits a hop: schedule (map commit → reduce attempt-start commit; scheduleCommit:
//   → the map's completion event reaches this bench over NATS, i.e. its Raft commit, apply and
//   event publish; scheduleReact: → the scheduler's attempt-start reaches the leader), deliver
//   (→ the agent starts it; deliverCommit: → the scheduler publishes the item, deliverQueue: → the
//   agent starts it), run (agent: reads, kernel, durable write), report (→ completion commit).
//   "Commit" times are the leader's stamps, taken when it proposes the entry (the commit follows).
//   armedHops: hops whose reduce the scheduler had armed (attempt-start whenReady), so the
//   manifest started it in the map completion's own entry: schedule is 0, there is no
//   scheduleCommit / scheduleReact sample, and deliverCommit is that entry's commit, its event
//   reaching the scheduler and the scheduler's publish. TESSERA_ARM_REDUCES=off measures without.
//   handedHops: armed hops whose reduce the leader handed to the agent that reported the map
//   straight to it (agent --direct-reports, on by default): no work item is published, so there
//   is no deliverCommit / deliverQueue sample; deliver is then the completion's commit and the
//   reply reaching the agent. TESSERA_DIRECT_REPORTS=off measures without.
//   earlyHandovers: reduces the leader sent the reporting agent before the map's completion
//   committed (agent --early-handover, on by default; `confirmed` when the committed entry
//   handed them over too): deliver is then the early answer reaching the agent, and the
//   reduce's report waits for the map's entry to commit (group commit) before its own is
//   proposed. TESSERA_EARLY_HANDOVER=off measures without.
// - --links: the cluster on a nats-server this bench starts (@tessera/harness, the same for
//   both), `plain`, or `secured`: that server requires mutual TLS and a password, the peers' gRPC
//   mutual TLS, their HTTP API HTTPS and a bearer token (a throwaway CA made with openssl), every process
//   (this bench's own connections too) using them. Alternating the two gives what securing every
//   link costs. Without --links the cluster starts its own plain nats-server (the default).
// Last stdout line: one JSON object.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { ClusterClient, loadJobProfile } from "@tessera/cli";
import { makeTestPki, mutualTls, type NatsServer, startNatsServer } from "@tessera/harness";
import type { MatmulJobSpec } from "@tessera/matrix";
import type { NatsConnection } from "@tessera/messaging";
import { decodeManifestEventBatch, decodeWorkItem, WORK_STREAM } from "@tessera/protocol";
import {
  apiFetch,
  apiHeaders,
  CompletionWatcher,
  cliMain,
  connectTo,
  E2eCluster,
  jobEvents,
  type NatsTarget,
  natsTarget,
  waitJob,
} from "@tessera/test-e2e";
import { cpuSince, machineBusySince, machineCpu } from "./_cpu.js";

interface Flags {
  tasks: number;
  chain: number;
  agents: number;
  /**
   * "empty" (default): empty tasks, the issue's definition: the agents read, compute and store
   * nothing. "exact": tiny matmul tasks instead, each reading its input tiles and storing one
   * --tile² tile with fsync (what this bench measured before the empty mode existed).
   */
  mode: "empty" | "exact";
  /** Tile side of the tasks (what an "exact" task reads and writes; 16 = MIN_TILE). */
  tile: number;
  /**
   * Agents' --slots and the scheduler's --prefetch (undefined: the services' defaults). With
   * empty tasks the attempts in flight (agents × (slots + prefetch)) bound the throughput, not CPU.
   */
  slots?: number;
  prefetch?: number;
  /**
   * Consensus peers (default 3). `--peers 1` is a what-if, not a deployment: no replication, so
   * the difference to 3 is what replicating each command costs on this path.
   */
  peers: number;
  /** Tasks of the warm-up job run before the measured one (0: none, measure a cold cluster). */
  warmup: number;
  /** A harness nats-server, plain or with every link secured; undefined: the cluster's own. */
  links?: "plain" | "secured";
}

/** Tasks of the job with side K: K³ maps + K² reduces. */
const graphTasks = (k: number) => k ** 3 + k ** 2;

/** The smallest K whose job has at least `tasks` tasks. */
function graphSide(tasks: number): number {
  let k = 1;
  while (graphTasks(k) < tasks) k++;
  return k;
}

/** A job's leader-stamped times: its first attempt could start, its every reduce committed. */
interface JobTimes {
  startedAt: number;
  computedAt: number;
}

function parseFlags(argv: readonly string[]): Flags {
  const f: Flags = {
    tasks: 10_000,
    chain: 1_000,
    agents: 2,
    mode: "empty",
    tile: 64,
    peers: 3,
    warmup: 2_000,
  };
  const known = [
    "links",
    "tasks",
    "chain",
    "agents",
    "mode",
    "tile",
    "slots",
    "prefetch",
    "peers",
    "warmup",
  ];
  for (let i = 0; i < argv.length; i += 2) {
    const name = (argv[i] ?? "").replace(/^--/, "");
    if (name === "links") {
      const links = argv[i + 1];
      if (links !== "plain" && links !== "secured")
        throw new Error(`--links: ${links} must be plain or secured`);
      f.links = links;
      continue;
    }
    if (name === "mode") {
      const mode = argv[i + 1];
      if (mode !== "empty" && mode !== "exact")
        throw new Error(`--mode: ${mode} must be empty or exact`);
      f.mode = mode;
      continue;
    }
    const v = Number(argv[i + 1]);
    if (!known.includes(name))
      throw new Error(`unknown flag --${name}; flags: ${known.map((k) => `--${k}`).join(" ")}`);
    if (!Number.isInteger(v) || v < 0)
      throw new Error(`--${name}: ${argv[i + 1]} must be an integer ≥ 0`);
    (f as unknown as Record<string, number>)[name] = v;
  }
  if (f.slots === 0)
    throw new Error("--slots: 0 must be at least 1 (work items an agent runs at once)");
  if (f.peers === 0) throw new Error("--peers: 0 must be at least 1 (consensus peers)");
  return f;
}

const pct = (xs: readonly number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))] ?? 0) * 100) / 100;
};
const mean = (xs: readonly number[]) =>
  xs.length === 0 ? null : Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 100) / 100;

interface Seen {
  /** The leader's stamp of the entry (taken when it proposed it). */
  at: number;
  /** When this bench's subscription received the event (same host clock). */
  seenAt: number;
  type: string;
  jobId: string;
  taskId?: string;
  attempt?: number;
}

/** Live committed events (core NATS subscription on tessera.evt.>), with waiters per job. */
class EventLog {
  readonly events: Seen[] = [];
  private readonly waiters = new Map<string, () => void>();
  private constructor(private readonly nc: NatsConnection) {}

  static async start(nats: NatsTarget): Promise<EventLog> {
    const nc = await connectTo(nats, "bench-noop-events");
    const log = new EventLog(nc);
    const seen = new Set<number>();
    nc.subscribe("tessera.evt.>", {
      callback: (err, msg) => {
        if (err) return;
        const seenAt = Date.now();
        const batch = decodeManifestEventBatch(msg.data);
        if (seen.has(batch.index)) return; // a new leader re-publishing
        seen.add(batch.index);
        for (const e of batch.events) {
          const f = e as { jobId?: string; taskId?: string; attempt?: number };
          if (!f.jobId) continue;
          const type = `${e.category}.${e.type}`;
          log.events.push({
            at: batch.at,
            seenAt,
            type,
            jobId: f.jobId,
            ...(f.taskId ? { taskId: f.taskId } : {}),
            ...(f.attempt ? { attempt: f.attempt } : {}),
          });
          if (type === "job.computed" || type === "job.failed" || type === "job.succeeded") {
            log.waiters.get(f.jobId)?.();
          }
        }
      },
    });
    await nc.flush();
    return log;
  }

  /** Resolves when the job's every reduce is committed (or it failed). */
  computed(jobId: string, timeoutMs: number): Promise<void> {
    if (this.events.some((e) => e.jobId === jobId && e.type === "job.computed")) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(jobId);
        reject(new Error(`job ${jobId} not computed within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(jobId, () => {
        clearTimeout(timer);
        this.waiters.delete(jobId);
        resolve();
      });
    });
  }

  of(jobId: string, type: string): Seen[] {
    return this.events.filter((e) => e.jobId === jobId && e.type === type);
  }

  async stop(): Promise<void> {
    await this.nc.close();
  }
}

async function submit(cluster: E2eCluster, jobId: string, spec: MatmulJobSpec): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    for (const p of cluster.info.peers) {
      try {
        const res = await apiFetch()(`${p.http}/v1/jobs`, {
          method: "POST",
          headers: { ...apiHeaders(), "content-type": "application/json" },
          body: JSON.stringify({ jobId, spec }),
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status === 201 || res.status === 200) return;
      } catch {
        // next peer
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`could not submit ${jobId}`);
}

/** The job view once the answering peer has applied job.computed (stale reads may lag). */
function computedView(cluster: E2eCluster, jobId: string) {
  return waitJob(
    cluster,
    jobId,
    "computedAt in the view",
    (v) => typeof (v as unknown as { computedAt?: unknown }).computedAt === "number",
    60_000,
  );
}

/**
 * A job's rate from the manifest's own leader-stamped times (does not depend on seeing every
 * event): its first attempt can start at startedAt, every reduce committed at computedAt.
 */
async function jobRate(cluster: E2eCluster, jobId: string, tasks: number) {
  const t = (await computedView(cluster, jobId)) as unknown as JobTimes;
  const seconds = (t.computedAt - t.startedAt) / 1000;
  return {
    seconds: Math.round(seconds * 1000) / 1000,
    tasksPerSecond: Math.round((tasks / seconds) * 10) / 10,
  };
}

/**
 * Commands and entries the leader proposed so far (`tessera_raft_entry_commands`), and the work
 * it handed over early, confirmed or not (`tessera_consensus_early_handovers_total`), summed over
 * the peers (only a leader counts them), from each peer's /metrics.
 */
async function raftEntries(cluster: E2eCluster): Promise<{
  commands: number;
  entries: number;
  earlyConfirmed: number;
  earlyUnconfirmed: number;
}> {
  const sums = { commands: 0, entries: 0, earlyConfirmed: 0, earlyUnconfirmed: 0 };
  for (const p of cluster.info.peers) {
    const text = await (await apiFetch()(`${p.http}/metrics`)).text();
    const read = (name: string, labels = "[^}]*") =>
      Number(new RegExp(`^${name}(?:\\{${labels}\\})? (\\S+)$`, "m").exec(text)?.[1] ?? 0);
    sums.commands += read("tessera_raft_entry_commands_sum");
    sums.entries += read("tessera_raft_entry_commands_count");
    const early = (outcome: string) =>
      read("tessera_consensus_early_handovers_total", `[^}]*outcome="${outcome}"[^}]*`);
    sums.earlyConfirmed += early("confirmed");
    sums.earlyUnconfirmed += early("unconfirmed");
  }
  return sums;
}

/**
 * Where the CPU went during the throughput job: each service process's CPU (user + system,
 * from /proc) over submit → computed, in ms per task, and how busy that kept the machine.
 */
function cpuPerTask(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
  natsUsed: number | undefined,
  tasks: number,
  windowStart: number,
  machineBusyFraction: number | null,
) {
  const { byService, total } = cpuSince(before, after);
  const perTask = (s: number) => Math.round((s / tasks) * 1e5) / 100;
  const msPerTask = Object.fromEntries([...byService].map(([name, used]) => [name, perTask(used)]));
  const windowSeconds = (performance.now() - windowStart) / 1000;
  return {
    msPerTask: { ...msPerTask, total: perTask(total) },
    servicesBusyFraction:
      Math.round((total / (windowSeconds * availableParallelism())) * 1000) / 1000,
    machineBusyFraction,
    ...(natsUsed === undefined
      ? {}
      : {
          natsServerMsPerTask: perTask(natsUsed),
          totalWithNatsMsPerTask: perTask(total + natsUsed),
        }),
    note: "msPerTask: service processes only (this bench not counted); natsServerMsPerTask: the nats-server the cluster started; machineBusyFraction: every process on the host, submit to computed; Linux /proc; empty or null elsewhere",
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const tile = flags.tile;
  const K = graphSide(flags.tasks);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (flags.slots !== undefined) env.TESSERA_AGENT_SLOTS = String(flags.slots);
  if (flags.prefetch !== undefined) env.TESSERA_PREFETCH = String(flags.prefetch);
  const links = flags.links === undefined ? undefined : await startLinks(flags.links);
  const cluster = await E2eCluster.start({
    agents: flags.agents,
    peers: flags.peers,
    env: { ...env, ...links?.env },
    ...(links ? { nats: [links.nats.url] } : {}),
  });
  const nats = natsTarget(cluster);
  const servers = nats.servers;
  const log = await EventLog.start(nats);
  try {
    // ---- warm-up: a first job compiles the services' hot paths (its rate is the cold one) ----
    let warmup: { tasks: number; seconds: number; tasksPerSecond: number } | null = null;
    if (flags.warmup > 0) {
      const W = graphSide(flags.warmup);
      const id = "bench-noop-warmup";
      await submit(cluster, id, { n: tile * W, tile, mode: flags.mode, seed: 2 });
      await log.computed(id, 3_600_000);
      const tasks = graphTasks(W);
      warmup = { tasks, ...(await jobRate(cluster, id, tasks)) };
    }
    // ---- throughput + dispatch latency --------------------------------------------------------
    const jobId = "bench-noop";
    const spec: MatmulJobSpec = { n: tile * K, tile, mode: flags.mode, seed: 1 };
    const watcher = await CompletionWatcher.start(nats, jobId);
    const cpuBefore = cluster.cpuSeconds();
    const natsBefore = cluster.natsCpuSeconds();
    const entriesBefore = await raftEntries(cluster);
    const windowStart = performance.now();
    const machineBefore = machineCpu();
    await submit(cluster, jobId, spec);
    await log.computed(jobId, 3_600_000);
    const machineBusyFraction = machineBusySince(machineBefore);
    await new Promise((r) => setTimeout(r, 500)); // let the last completion reports arrive
    const natsAfter = cluster.natsCpuSeconds();
    const entriesAfter = await raftEntries(cluster);
    const entryDelta = {
      commands: entriesAfter.commands - entriesBefore.commands,
      entries: entriesAfter.entries - entriesBefore.entries,
    };
    const cpu = cpuPerTask(
      cpuBefore,
      cluster.cpuSeconds(),
      natsBefore === undefined || natsAfter === undefined ? undefined : natsAfter - natsBefore,
      graphTasks(K),
      windowStart,
      machineBusyFraction,
    );
    await watcher.stop();
    // Statistics from the durable stream (the live subscription only drives the waits).
    const stored = await jobEvents(nats, jobId);
    const started = stored.filter((e) => `${e.category}.${e.type}` === "task.started");
    const completed = stored.filter((e) => `${e.category}.${e.type}` === "task.completed");
    const startAt = new Map(started.map((e) => [`${e.taskId}/${e.attempt}`, e.at]));
    const first = Math.min(...started.map((e) => e.at));
    const last = Math.max(...completed.map((e) => e.at));
    const taskLatency = completed
      .map((c) => c.at - (startAt.get(`${c.taskId}/${c.attempt}`) ?? Number.NaN))
      .filter(Number.isFinite);
    const dispatch = watcher.completions
      .filter((c) => c.status === "ok")
      .map(
        (c) =>
          c.completedAt -
          c.timings.totalMs -
          (startAt.get(`${c.taskId}/${c.attempt}`) ?? Number.NaN),
      )
      .filter(Number.isFinite);
    const tasks = graphTasks(K);
    const rate = await jobRate(cluster, jobId, tasks);
    const eventSpanSeconds = (last - first) / 1000;
    // Were the agents waiting for work or busy, and with what (tessera job profile)?
    const profile = await loadJobProfile(
      new ClusterClient(cluster.info.peers.map((p) => p.http)),
      servers,
      jobId,
      nats.security,
    );

    // ---- chain of dependent hops ------------------------------------------------------------
    const hops: number[] = [];
    let armedHops = 0;
    let handedHops = 0;
    // Per chain job: job started → every reduce committed (two dependent tasks: map, reduce).
    const perJob: number[] = [];
    const chainReports = await CompletionWatcher.start(nats);
    // Work items as the scheduler publishes them (a core subscription sees every JetStream
    // publish): issuedAt splits "deliver" into the scheduler's side and the queue's.
    const issuedAt = new Map<string, number>();
    const workTap = await connectTo(nats, "bench-noop-work-tap");
    workTap.subscribe(WORK_STREAM.subjects[0] as string, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const item = decodeWorkItem(msg.data);
          issuedAt.set(`${item.jobId}/${item.taskId}/${item.attempt}`, item.issuedAt);
        } catch {
          // not a work item
        }
      },
    });
    await workTap.flush();
    const chainCountsBefore = await raftEntries(cluster);
    const chainStart = Date.now();
    for (let c = 0; c < flags.chain; c++) {
      const id = `bench-chain-${c}`;
      await submit(cluster, id, { n: tile, tile, mode: flags.mode, seed: 1 + (c % 1000) });
      await log.computed(id, 120_000);
      const v = (await computedView(cluster, id)) as unknown as {
        startedAt: number;
        computedAt: number;
      };
      perJob.push(v.computedAt - v.startedAt);
    }
    const chainSeconds = (Date.now() - chainStart) / 1000;
    await new Promise((r) => setTimeout(r, 200)); // the last completion report
    const chainCountsAfter = await raftEntries(cluster);
    await chainReports.stop();
    await workTap.close();
    const chainEvents = await jobEvents(nats, (id) => id.startsWith("bench-chain-"));
    // Where a hop's time goes (same host clock): map completion commit → reduce attempt-start
    // commit (scheduler) → the agent starting it (work item delivery) → the agent done (tile
    // reads, kernel, durable write) → reduce completion commit (report + ingestion + commit).
    const stages = {
      schedule: [] as number[],
      scheduleCommit: [] as number[],
      scheduleReact: [] as number[],
      deliver: [] as number[],
      deliverCommit: [] as number[],
      deliverQueue: [] as number[],
      run: [] as number[],
      runRead: [] as number[],
      runCompute: [] as number[],
      runWrite: [] as number[],
      report: [] as number[],
    };
    for (let c = 0; c < flags.chain; c++) {
      const id = `bench-chain-${c}`;
      const of = (type: string, prefix: string) =>
        chainEvents.find(
          (e) =>
            e.jobId === id && `${e.category}.${e.type}` === type && e.taskId?.startsWith(prefix),
        );
      const map = of("task.completed", "m-");
      const red = of("task.completed", "r-");
      const redStart = of("task.started", "r-");
      const report = chainReports.completions.find(
        (r) => r.jobId === id && r.taskId.startsWith("r-") && r.attempt === red?.attempt,
      );
      if (!map || !red) continue;
      hops.push(red.at - map.at);
      if (!redStart || !report) continue;
      const agentStart = report.completedAt - report.timings.totalMs;
      stages.schedule.push(redStart.at - map.at);
      // An armed reduce starts in the map completion's own entry: no reaction, no second commit.
      const armed =
        redStart.event.category === "task" &&
        redStart.event.type === "started" &&
        redStart.event.armed === true;
      if (armed) armedHops++;
      if (armed && redStart.event.handed === true) handedHops++;
      const mapSeen = log
        .of(id, "task.completed")
        .find((e) => e.taskId === map.taskId && e.attempt === map.attempt);
      if (mapSeen && !armed) {
        stages.scheduleCommit.push(mapSeen.seenAt - map.at);
        stages.scheduleReact.push(redStart.at - mapSeen.seenAt);
      }
      stages.deliver.push(agentStart - redStart.at);
      const issued = issuedAt.get(`${id}/${red.taskId}/${red.attempt}`);
      if (issued !== undefined) {
        stages.deliverCommit.push(issued - redStart.at);
        stages.deliverQueue.push(agentStart - issued);
      }
      stages.run.push(report.timings.totalMs);
      stages.runRead.push(report.timings.readMs);
      stages.runCompute.push(report.timings.computeMs);
      stages.runWrite.push(report.timings.writeMs);
      stages.report.push(red.at - report.completedAt);
    }

    const jobState = (await computedView(cluster, jobId).catch(() => undefined))?.state;
    const api = apiRequestCost(cluster);
    const result = {
      bench: "noop-tasks",
      jobState,
      measured:
        flags.mode === "empty"
          ? "empty tasks (a matmul job's graph in mode empty: agents read, compute and store nothing) through the whole path: attempt-start commit → work item → agent → completion → attempt-complete commit; agents send no separate claim"
          : `matmul tasks on ${tile}×${tile} tiles through the whole path: attempt-start commit → work item → agent (tile reads + one tile write with fsync) → completion → attempt-complete commit; agents send no separate claim`,
      mode: flags.mode,
      agents: flags.agents,
      peers: flags.peers,
      agentSlots: env.TESSERA_AGENT_SLOTS ?? "agent default (2)",
      schedulerPrefetch: env.TESSERA_PREFETCH ?? "scheduler default (auto)",
      warmup: warmup ?? { tasks: 0, note: "--warmup 0: the throughput job ran on a cold cluster" },
      throughput: {
        tasks,
        maps: K ** 3,
        reduces: K ** 2,
        spec,
        ...rate,
        dispatchLatencyMs: {
          p50: pct(dispatch, 0.5),
          p99: pct(dispatch, 0.99),
          n: dispatch.length,
        },
        taskLatencyMs: {
          p50: pct(taskLatency, 0.5),
          p99: pct(taskLatency, 0.99),
          n: taskLatency.length,
        },
        attemptStartEventsSeen: started.length,
        completionEventsSeen: completed.length,
        eventSpanSeconds: Math.round(eventSpanSeconds * 1000) / 1000,
        cpu,
        raftEntries: {
          commands: entryDelta.commands,
          entries: entryDelta.entries,
          earlyHandovers: {
            confirmed: entriesAfter.earlyConfirmed - entriesBefore.earlyConfirmed,
            unconfirmed: entriesAfter.earlyUnconfirmed - entriesBefore.earlyUnconfirmed,
          },
          commandsPerEntry:
            Math.round((entryDelta.commands / Math.max(1, entryDelta.entries)) * 100) / 100,
          definition:
            "commands the leader proposed during the throughput job and the log entries that carried them (tessera_raft_entry_commands); each entry is one append round per follower and one TESSERA_EVENTS message; earlyHandovers: reduces the leader sent an agent before the report that started them committed (confirmed: the committed entry handed them over too)",
        },
        profile: {
          agentOccupancy: profile.occupancy,
          busySeconds: profile.busySeconds,
          phases: profile.phases,
          bottleneck: profile.bottleneck,
          definition:
            "tessera job profile of the throughput job: agentOccupancy = mean share of the window with a work item running per agent; phases are the agents' wall time (on saturated cores, waiting for a CPU included)",
        },
      },
      chain: {
        hops: hops.length,
        armedHops,
        handedHops,
        earlyHandovers: {
          confirmed: chainCountsAfter.earlyConfirmed - chainCountsBefore.earlyConfirmed,
          unconfirmed: chainCountsAfter.earlyUnconfirmed - chainCountsBefore.earlyUnconfirmed,
        },
        msPerHop: { mean: mean(hops), p50: pct(hops, 0.5), p99: pct(hops, 0.99) },
        hopStagesMs: Object.fromEntries(
          Object.entries(stages).map(([k, v]) => [k, { mean: mean(v), p50: pct(v, 0.5) }]),
        ),
        jobs: perJob.length,
        msPerHopFromJobTimes: {
          mean: mean(perJob.map((x) => x / 2)),
          p50: pct(
            perJob.map((x) => x / 2),
            0.5,
          ),
          p99: pct(
            perJob.map((x) => x / 2),
            0.99,
          ),
        },
        wallSeconds: Math.round(chainSeconds * 1000) / 1000,
        definition:
          "one 1-map + 1-reduce job after another; hop = map completion commit → reduce completion commit (the leader's stamps, taken as it proposes each entry)",
      },
      api: await api,
      reference: {
        dask: { tasksPerSecond: [640, 660], msPerDependentHop: 6.6, source: "issue 5" },
        targets: { tasksPerSecond: 3250, msPerHop: 3 },
      },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await log.stop();
    await cluster.stop();
    await links?.stop();
  }
}

/**
 * What an operator's request costs on the peers' HTTP API (HTTPS with `--links secured`): GET
 * /v1/cluster back to back on one kept-alive connection, and whole `tessera job list` commands
 * (a process start, a connection, a TLS handshake when secured, one request).
 */
async function apiRequestCost(cluster: E2eCluster) {
  const url = `${cluster.info.peers[0]?.http}/v1/cluster`;
  const get = apiFetch();
  const headers = apiHeaders();
  const requests: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    const res = await get(url, { headers });
    await res.text();
    if (i >= 20) requests.push(performance.now() - t); // the first open the connection
  }
  const commands: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t = performance.now();
    const run = spawnSync(
      process.execPath,
      [cliMain(), "job", "list", "--json", "--server", cluster.servers],
      { encoding: "utf8" },
    );
    if (run.status !== 0) throw new Error(`tessera job list failed: ${run.stderr}`);
    commands.push(performance.now() - t);
  }
  return {
    scheme: new URL(url).protocol.replace(":", ""),
    requestMs: { p50: pct(requests, 0.5), p99: pct(requests, 0.99), n: requests.length },
    cliCommandMs: { p50: pct(commands, 0.5), min: pct(commands, 0), n: commands.length },
    definition:
      "requestMs: GET /v1/cluster on one kept-alive connection (after 20 to warm it); cliCommandMs: a whole `tessera job list --json` process",
  };
}

/**
 * The nats-server of `--links` and, for `secured`, a throwaway CA, a password and an API token:
 * the environment that points every process at them. The token and CA variables are also set in
 * this process, so its HTTP requests (ClusterClient, the cluster's probes) carry the token over
 * HTTPS that trusts the CA.
 */
async function startLinks(
  links: "plain" | "secured",
): Promise<{ nats: NatsServer; env: NodeJS.ProcessEnv; stop(): Promise<void> }> {
  if (links === "plain") {
    const nats = await startNatsServer({ mode: "process" });
    return { nats, env: {}, stop: () => nats.stop() };
  }
  const pki = await makeTestPki();
  const password = randomBytes(16).toString("hex");
  await writeFile(join(pki.dir, "password"), `${password}\n`);
  await writeFile(join(pki.dir, "api-token"), `${randomBytes(32).toString("hex")}\n`);
  const nats = await startNatsServer({
    security: { tls: mutualTls(pki), users: [{ user: "tessera", password }] },
  });
  process.env.TESSERA_API_TOKEN_FILE = join(pki.dir, "api-token");
  process.env.TESSERA_API_CA = pki.caFile;
  return {
    nats,
    env: {
      TESSERA_NATS_USER: "tessera",
      TESSERA_NATS_PASSWORD_FILE: join(pki.dir, "password"),
      TESSERA_NATS_TLS_CA: pki.caFile,
      TESSERA_NATS_TLS_CERT: pki.clientCertFile,
      TESSERA_NATS_TLS_KEY: pki.clientKeyFile,
      TESSERA_CLUSTER_TLS_CA: pki.caFile,
      TESSERA_CLUSTER_TLS_CERT: pki.serverCertFile,
      TESSERA_CLUSTER_TLS_KEY: pki.serverKeyFile,
      TESSERA_API_TOKEN_FILE: join(pki.dir, "api-token"),
      TESSERA_API_CA: pki.caFile,
      TESSERA_API_TLS_CERT: pki.serverCertFile,
      TESSERA_API_TLS_KEY: pki.serverKeyFile,
    },
    async stop() {
      await nats.stop();
      await pki.remove();
    },
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`noop-tasks: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
