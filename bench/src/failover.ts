// `pnpm bench failover [--strategies undisturbed,none,cold,warm,leader,scheduler,nats] [--n 3072]
//                      [--tile 256]
//                      [--kill-at 0.25]`
//
// Recovery time (RTO) when a process dies mid-job, per failover strategy, on a whole local
// cluster of real processes (E2eCluster: nats-server, 3 consensus peers, scheduler,
// storage-manager, 2 CPU agents). Each strategy gets a fresh cluster and the same exact-mode job;
// once `--kill-at` of its tasks are done, something is SIGKILLed.
//   undisturbed  no kill: the job's wall time for comparison
//   none         agent-1 is killed; the surviving agent finishes alone
//   cold         agent-1 is killed; a new agent process is started as soon as the manifest marks
//                it failed (what an orchestrator replacing a lost node does): process start, ONNX
//                Runtime, NATS, join
//   warm         agent-1 is killed; a third agent runs from the start with --standby (up, 0 slots
//                offered) and the scheduler promotes it when agent-1 is marked failed
//   leader       the consensus leader is killed (and left dead: two peers of three go on)
//   scheduler    the scheduler is killed and started again at once (as a supervisor restarts
//                a crashed process): it rebuilds its view from the manifest
//   nats         the only nats-server (started by the harness for this strategy) is killed and
//                started again 2 s later on the same port and store: a whole-bus outage
// Agent strategies (ms from the kill): detectedMs (manifest marks the node failed: heartbeats stop,
// φ-accrual detector), replacementReadyMs (cold: the new agent's "agent started"; warm: its
// "promoted" log line), rtoMs (the replacement's first task completion committed: capacity is
// back), rescuedMs (the last task agent-1 held completes elsewhere: a speculative attempt, or the
// scheduler expiring what its last heartbeat listed once the node is failed). For warm, what the
// standby cost while it waited: CPU seconds and RSS. Leader: electedMs (a surviving peer reports
// itself leader). Leader, scheduler and nats: stallMs (the longest time around the kill in which
// no task event was proposed: the control plane's outage as the job sees it); scheduler: readyMs
// (the restarted one answers /readyz). Every strategy: the job's wall time.
// Last stdout line: one JSON object.
import { readFileSync } from "node:fs";
import { startNatsServer } from "@tessera/harness";
import type { MatmulJobSpec } from "@tessera/matrix";
import { E2eCluster, jobEvents, natsUrls, submitViaCli, waitJob } from "@tessera/test-e2e";
import { longestGap } from "./_cli.js";

const STRATEGIES = ["undisturbed", "none", "cold", "warm", "leader", "scheduler", "nats"] as const;
/** How long the nats strategy keeps the bus down. */
const NATS_OUTAGE_MS = 2_000;
type Strategy = (typeof STRATEGIES)[number];

interface Flags {
  strategies: Strategy[];
  n: number;
  tile: number;
  killAt: number;
}

function parseFlags(argv: readonly string[]): Flags {
  const f: Flags = { strategies: [...STRATEGIES], n: 3072, tile: 256, killAt: 0.25 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = (argv[i] ?? "").replace(/^--/, "");
    const v = argv[i + 1] ?? "";
    if (name === "strategies") {
      const list = v.split(",").filter((s) => s !== "");
      const bad = list.find((s) => !(STRATEGIES as readonly string[]).includes(s));
      if (bad !== undefined || list.length === 0)
        throw new Error(`--strategies: ${JSON.stringify(v)} must list ${STRATEGIES.join(", ")}`);
      f.strategies = list as Strategy[];
    } else if (name === "n" || name === "tile") {
      const x = Number(v);
      if (!Number.isInteger(x) || x < 16)
        throw new Error(`--${name}: ${v} must be an integer ≥ 16`);
      f[name] = x;
    } else if (name === "kill-at") {
      const x = Number(v);
      if (!(x > 0 && x < 1)) throw new Error(`--kill-at: ${v} must be a fraction between 0 and 1`);
      f.killAt = x;
    } else {
      throw new Error(`unknown flag --${name}; flags: --strategies --n --tile --kill-at`);
    }
  }
  if (f.n % f.tile !== 0) throw new Error(`--tile: ${f.tile} must divide --n ${f.n}`);
  return f;
}

/** Time (ms since the epoch) of the first log line of `file` whose msg is `msg`. */
function logTime(file: string, msg: string): number | undefined {
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      const t = (JSON.parse(line) as { time?: unknown }).time;
      if (typeof t === "number") return t;
    } catch {
      // a partial line: keep looking
    }
  }
  return undefined;
}

function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : undefined;
  } catch {
    return undefined;
  }
}

async function failedAt(cluster: E2eCluster, nodeId: string): Promise<number | undefined> {
  for (const p of cluster.info.peers) {
    if (!cluster.isRunning(`peer-${p.id}`)) continue;
    try {
      const res = await fetch(`${p.http}/v1/nodes?consistency=stale`);
      const body = (await res.json()) as { nodes?: { nodeId?: string; failedAt?: unknown }[] };
      const at = body.nodes?.find((n) => n.nodeId === nodeId)?.failedAt;
      return typeof at === "number" && at > 0 ? at : undefined;
    } catch {
      // try the next peer
    }
  }
  return undefined;
}

const since = (t: number | undefined, t0: number) => (t === undefined ? null : Math.round(t - t0));

async function runStrategy(strategy: Strategy, spec: MatmulJobSpec, killAt: number) {
  // The nats strategy needs a nats-server it can kill and restart: the harness's, not dev up's.
  const bus = strategy === "nats" ? await startNatsServer({ mode: "process" }) : undefined;
  const cluster = await E2eCluster.start(bus ? { nats: [bus.url] } : {});
  try {
    const replacement = "agent-3";
    if (strategy === "warm") await cluster.addAgent(replacement, ["--standby"]);
    const jobId = `failover-${strategy}`;
    const K = spec.n / spec.tile;
    const total = K * K * K + K * K;
    const cpuBefore = cluster.cpuSeconds();
    const started = Date.now();
    const run = submitViaCli(cluster, spec, jobId, 600_000);
    const out: Record<string, unknown> = { strategy };
    let killedAt: number | undefined;
    if (strategy !== "undisturbed") {
      await waitJob(cluster, jobId, `${killAt} done`, (v) => v.counts.done >= total * killAt);
      if (strategy === "warm") {
        // What the standby cost while it waited (its share of the job so far: none of the work).
        const cpu = cluster.cpuSeconds();
        out.standby = {
          cpuSecondsWhileWaiting:
            Math.round(((cpu.get(replacement) ?? 0) - (cpuBefore.get(replacement) ?? 0)) * 100) /
            100,
          waitedSeconds: Math.round((Date.now() - started) / 100) / 10,
          rssMiB: rssMiB(cluster.pid(replacement)) ?? null,
        };
      }
      killedAt = Date.now();
      if (strategy === "leader") {
        const old = await cluster.killLeader();
        const next = await cluster.leaderId();
        Object.assign(out, { killedPeer: old, newLeader: next, electedMs: Date.now() - killedAt });
      } else if (strategy === "nats" && bus) {
        await bus.kill();
        await new Promise((r) => setTimeout(r, NATS_OUTAGE_MS));
        await bus.restart();
        out.outageMs = Date.now() - killedAt;
      } else if (strategy === "scheduler") {
        await cluster.kill("scheduler");
        await cluster.restart("scheduler");
        out.readyMs = Date.now() - killedAt;
      } else {
        await cluster.kill("agent-1");
      }
      if (strategy === "cold") {
        // An orchestrator reacting to the lost node: a new agent once the manifest says so.
        while ((await failedAt(cluster, "agent-1")) === undefined)
          await new Promise((r) => setTimeout(r, 20));
        await cluster.addAgent(replacement);
      }
    }
    const r = await run.result;
    const wallSeconds = (Date.now() - started) / 1000;
    Object.assign(out, {
      status: r.status,
      verified: r.verified,
      digest: r.digest,
      tasks: r.tasks,
      attempts: r.attempts,
      wallSeconds: Math.round(wallSeconds * 100) / 100,
    });
    if (killedAt !== undefined && ["leader", "scheduler", "nats"].includes(strategy)) {
      const t0 = killedAt;
      const stamps = (await jobEvents(natsUrls(cluster), jobId))
        .filter((e) => e.category === "task" && e.at >= t0 - 2_000)
        .map((e) => e.at)
        .sort((a, b) => a - b);
      out.stallMs = longestGap(stamps);
    } else if (killedAt !== undefined) {
      const t0 = killedAt;
      const events = await jobEvents(natsUrls(cluster), jobId);
      const completed = events.filter((e) => e.category === "task" && e.type === "completed");
      const firstBy = (node: string) =>
        completed
          .filter((e) => e.nodeId === node)
          .reduce<number | undefined>(
            (m, e) => (m === undefined || e.at < m ? e.at : m),
            undefined,
          );
      // What agent-1 was running when it died comes back one of two ways: a speculative attempt
      // (it ran past 1.5 × p75 of its siblings) or, once the node is marked failed, the
      // scheduler expiring the attempts its last heartbeat listed. Both count as rescued.
      const startedAfterKill = events.filter(
        (e) => e.category === "task" && e.type === "started" && e.at > t0,
      );
      const expiredAfterKill = events.filter((e) => e.type === "attempt-expired" && e.at > t0);
      const rescued = new Set(
        [...expiredAfterKill, ...startedAfterKill.filter((e) => e.speculative === true)].map(
          (e) => e.taskId,
        ),
      );
      const rescuedDone = completed
        .filter((e) => rescued.has(e.taskId) && e.at > t0)
        .reduce((m, e) => Math.max(m, e.at), 0);
      const log = strategy === "none" ? undefined : cluster.logOf(replacement);
      Object.assign(out, {
        detectedMs: since(await failedAt(cluster, "agent-1"), t0),
        replacementReadyMs:
          log === undefined
            ? null
            : since(
                logTime(
                  log,
                  strategy === "warm" ? "promoted from standby to active" : "agent started",
                ),
                t0,
              ),
        rtoMs: strategy === "none" ? null : since(firstBy(replacement), t0),
        rescuedTasks: rescued.size,
        electedMs: "kill → a surviving peer reports itself leader (leader strategy)",
        readyMs: "kill → the restarted scheduler answers /readyz (scheduler strategy)",
        outageMs: "kill → the nats-server accepts clients again (nats strategy)",
        stallMs:
          "the longest gap between task events proposed around the kill (leader, scheduler, nats): the job's control-plane outage",
        rescuedMs: rescued.size === 0 ? null : since(rescuedDone, t0),
        speculativeAfterKill: startedAfterKill.filter((e) => e.speculative === true).length,
        expiredAfterKill: expiredAfterKill.map((e) => e.reason ?? ""),
        tasksByReplacement: completed.filter((e) => e.nodeId === replacement).length,
      });
    }
    return out;
  } finally {
    await cluster.stop();
    await bus?.stop();
  }
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const spec: MatmulJobSpec = { n: flags.n, tile: flags.tile, mode: "exact", seed: 21 };
  const results: Record<string, unknown>[] = [];
  for (const s of flags.strategies) {
    const r = await runStrategy(s, spec, flags.killAt);
    process.stderr.write(`${JSON.stringify(r)}\n`);
    results.push(r);
  }
  console.log(
    JSON.stringify({
      bench: "failover",
      spec,
      agents: 2,
      killAt: flags.killAt,
      killed:
        "agent-1 (none, cold, warm), the consensus leader (leader), the scheduler (scheduler) or the nats-server (nats), SIGKILL",
      definitions: {
        detectedMs: "kill → the manifest marks the node failed (leader-stamped)",
        replacementReadyMs:
          "kill → cold: the new agent's 'agent started'; warm: its 'promoted' line",
        rtoMs: "kill → the replacement's first task completion committed (capacity restored)",
        electedMs: "kill → a surviving peer reports itself leader (leader strategy)",
        readyMs: "kill → the restarted scheduler answers /readyz (scheduler strategy)",
        outageMs: "kill → the nats-server accepts clients again (nats strategy)",
        stallMs:
          "the longest gap between task events proposed around the kill (leader, scheduler, nats): the job's control-plane outage",
        rescuedMs:
          "kill → the last task that agent-1 held (rescued by a speculative attempt, or expired once the node failed) completes elsewhere",
      },
      results,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
