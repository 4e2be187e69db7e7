// `pnpm bench chaos-soak [--n 8192] [--tile 256] [--every 5] [--start 3] [--schedulers 1]
//                        [--targets leader,scheduler,agent,storage-manager,leader,nats,agent,scheduler,leader]`
//
// Many faults in one job. A `tessera dev up --restart` cluster (DevCluster with restart: true:
// nats-server, 3 consensus peers, scheduler, storage-manager, 2 CPU agents; a process that dies
// is started again after 100 ms, like compose's restart: unless-stopped) runs the job once
// undisturbed, then again while one process is SIGKILLed every --every seconds, in the order
// --targets gives (`leader`: whichever peer leads at that moment; `agent`: agent-1, agent-2,
// agent-1, … in turn), starting --start seconds into the job and stopping when it ends. A
// target that is down at its turn (killed again within 10 s of each start, its restart backs off
// 0.1, 0.2, 0.4 … s, like Docker's) is left alone and listed with `skipped`.
//
// The job is what `tessera job submit matmul --n N --tile T` submits (k-per-map auto). Measured
// from the job's committed task.completed events on TESSERA_EVENTS, by the leader's stamps:
//   gapAroundKillMs  per kill: from the last completion committed before it to the first after
//                    it (how long the job made no progress across that fault; an undisturbed
//                    gap is tens to hundreds of ms)
//   stallMs          per kill: the longest gap between completions that ends after it and
//                    before the next kill (a nats-server kill stalls the job only once the
//                    commands the leader had pulled are committed, a scheduler kill once the
//                    queued work items are done: the gap around the kill can be a few ms)
//   longestGapMs     the longest time without a completion anywhere in the chaos run
//   wallSeconds      both runs (submit → succeeded, the manifest's clock), and their ratio
// and the outcome: state, verified, digest equal to the undisturbed run's, attempts started.
// Last stdout line: one JSON object.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ClusterClient,
  DevCluster,
  jobProgress,
  parseMatmulArgs,
  readClusterStatus,
} from "@tessera/cli";
import type { MatmulJobSpec } from "@tessera/matrix";
import { jobEvents } from "@tessera/test-e2e";
import { FlagError, intIn, longestGap, runBench } from "./_cli.js";

const TARGETS = ["leader", "scheduler", "agent", "storage-manager", "nats"] as const;
type Target = (typeof TARGETS)[number];
const DEFAULT_TARGETS: Target[] = [
  "leader",
  "scheduler",
  "agent",
  "storage-manager",
  "leader",
  "nats",
  "agent",
  "scheduler",
  "leader",
];

interface Flags {
  n: number;
  tile: number;
  everyS: number;
  startS: number;
  /** Scheduler instances (`dev up --schedulers`); the `scheduler` target is always the first. */
  schedulers: number;
  targets: Target[];
}

function parseFlags(argv: readonly string[]): Flags {
  const f: Flags = {
    n: 8192,
    tile: 256,
    everyS: 5,
    startS: 3,
    schedulers: 1,
    targets: DEFAULT_TARGETS,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = (argv[i] ?? "").replace(/^--/, "");
    const v = argv[i + 1] ?? "";
    if (name === "n") f.n = intIn(name, v, 64, 65_536);
    else if (name === "tile") f.tile = intIn(name, v, 16, 8192);
    else if (name === "every") f.everyS = intIn(name, v, 1, 600);
    else if (name === "start") f.startS = intIn(name, v, 0, 600);
    else if (name === "schedulers") f.schedulers = intIn(name, v, 1, 4);
    else if (name === "targets") {
      const list = v.split(",");
      const bad = list.find((t) => !(TARGETS as readonly string[]).includes(t));
      if (bad !== undefined || list.length === 0) {
        throw new FlagError(`--targets: "${bad ?? v}" is not one of ${TARGETS.join(", ")}`);
      }
      f.targets = list as Target[];
    } else {
      throw new FlagError(
        `unknown flag --${name}; flags: --n --tile --every --start --schedulers --targets`,
      );
    }
  }
  return f;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Kill {
  readonly target: Target;
  readonly process: string;
  readonly pid: number;
  /** Seconds since the chaos job was submitted. */
  readonly atS: number;
  readonly at: number;
  /**
   * Why nothing was killed at that turn: the target was down already (its restart still backing
   * off: a process killed every few seconds waits 1, 2, 4, 8 … s to come back), or no peer led.
   * pid is 0 then.
   */
  readonly skipped?: string;
}

interface RunResult {
  readonly jobId: string;
  readonly state: string;
  readonly verified: boolean | null;
  readonly digest: string | null;
  readonly tasks: number;
  readonly attempts: number;
  readonly wallSeconds: number;
  /** Leader stamps (ms) of the job's committed task completions, in commit order. */
  readonly completions: readonly number[];
}

/** Submits the job and waits until it ends; `during` runs alongside (the chaos). */
async function runJob(
  client: ClusterClient,
  nats: readonly string[],
  jobId: string,
  spec: MatmulJobSpec,
  during?: (submittedAt: number, running: () => boolean) => Promise<void>,
): Promise<RunResult> {
  await client.post("/v1/jobs", { jobId, spec });
  const submittedAt = Date.now();
  let view: unknown;
  let ended = false;
  // Caught now and rethrown after the job: a rejection left pending would end the process
  // before the cluster is stopped.
  let chaosError: unknown;
  const chaos = during?.(submittedAt, () => !ended).catch((err: unknown) => {
    chaosError = err ?? new Error("the chaos loop failed");
  });
  for (;;) {
    try {
      view = await client.get(`/v1/jobs/${jobId}?consistency=stale`);
      if (jobProgress(view).terminal) break;
    } catch {
      // every peer restarting at once: ask again
    }
    await sleep(250);
  }
  ended = true;
  await chaos;
  if (chaosError !== undefined) throw chaosError;
  const completions = (await jobEvents(nats, jobId))
    .filter((e) => e.type === "completed" && e.category === "task")
    .map((e) => e.at);
  const p = jobProgress(view);
  const v = view as { submittedAt?: number; finishedAt?: number; counts?: { attempts?: number } };
  return {
    jobId,
    state: p.state,
    verified: p.verified,
    digest: p.outputDigest,
    tasks: p.tasks,
    attempts: v.counts?.attempts ?? p.attempts,
    wallSeconds: ((v.finishedAt ?? 0) - (v.submittedAt ?? 0)) / 1000,
    completions,
  };
}

/**
 * The longest gap between consecutive completions that ends after `from` and no later than
 * `to`: how long the job stalled because of a kill at `from` (the gap that spans the next kill,
 * at `to`, counts for that one). Not just the gap that contains the kill: commands already
 * pulled before a nats-server dies still commit for a few ms, and work items already queued keep
 * the agents busy after the scheduler dies, so the stall can start a while after the kill.
 */
function stallAfter(completions: readonly number[], from: number, to: number): number | null {
  let longest: number | null = null;
  for (let i = 1; i < completions.length; i++) {
    const a = completions[i - 1] ?? 0;
    const b = completions[i] ?? 0;
    if (b > from && b <= to) longest = Math.max(longest ?? 0, b - a);
  }
  return longest;
}

/** The gap between completions that contains `at`: last one at or before it → first after. */
function gapAround(completions: readonly number[], at: number): number | null {
  const after = completions.findIndex((t) => t > at);
  if (after <= 0) return null;
  return (completions[after] ?? 0) - (completions[after - 1] ?? 0);
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const spec = parseMatmulArgs({ n: String(flags.n), tile: String(flags.tile) });
  const data = mkdtempSync(join(tmpdir(), "tessera-chaos-soak-"));
  const cluster = await DevCluster.start({
    peers: 3,
    agents: 2,
    schedulers: flags.schedulers,
    storage: "fs",
    nats: undefined,
    data,
    restart: true,
    agentEp: "cpu",
    onStatus: (line) => process.stderr.write(`chaos-soak: ${line}\n`),
  });
  try {
    const info = cluster.info;
    if (!info) throw new Error("the dev cluster reported no endpoints");
    const client = new ClusterClient(
      info.peers.map((p) => p.http),
      { retryForMs: 30_000 },
    );
    const nats = info.nats.split(",");
    const undisturbed = await runJob(client, nats, "soak-undisturbed", spec);
    process.stderr.write(`chaos-soak: undisturbed ${undisturbed.wallSeconds} s\n`);

    const kills: Kill[] = [];
    let agentTurn = 0;
    /** The managed process a target names now (`leader`: whichever peer leads). */
    const nameOf = async (target: Target): Promise<string> => {
      switch (target) {
        case "leader": {
          const s = await readClusterStatus(client);
          if (s.leader === null) throw new Error("no peer leads at this moment");
          return `peer-${s.leader}`;
        }
        case "agent": {
          const a = info.agents[agentTurn++ % info.agents.length];
          if (!a) throw new Error("no agent to kill");
          return a.id;
        }
        default:
          return target;
      }
    };
    const chaos = await runJob(client, nats, "soak-chaos", spec, async (submittedAt, running) => {
      await sleep(flags.startS * 1000);
      for (const target of flags.targets) {
        if (!running()) return;
        let name: string = target;
        let pid: number | undefined;
        let skipped: string | undefined;
        try {
          name = await nameOf(target);
          pid = cluster.signal(name, "SIGKILL");
          if (pid === undefined) skipped = "not running (its restart is backing off)";
        } catch (err) {
          skipped = err instanceof Error ? err.message : String(err);
        }
        const at = Date.now();
        kills.push({
          target,
          process: name,
          pid: pid ?? 0,
          at,
          atS: (at - submittedAt) / 1000,
          ...(skipped === undefined ? {} : { skipped }),
        });
        process.stderr.write(
          `chaos-soak: ${skipped === undefined ? `SIGKILL ${name} (pid ${pid})` : `${name} not killed: ${skipped}`}\n`,
        );
        await sleep(flags.everyS * 1000);
      }
    });

    console.log(
      JSON.stringify({
        bench: "chaos-soak",
        spec,
        cluster: `dev up --restart: 3 consensus peers, ${flags.schedulers} scheduler(s), storage-manager, 2 CPU agents`,
        everySeconds: flags.everyS,
        kills: kills.map(({ at, ...k }, i) => ({
          ...k,
          gapAroundKillMs: k.skipped === undefined ? gapAround(chaos.completions, at) : null,
          stallMs:
            k.skipped === undefined
              ? stallAfter(chaos.completions, at, kills[i + 1]?.at ?? Number.POSITIVE_INFINITY)
              : null,
        })),
        longestGapMs: longestGap(chaos.completions),
        undisturbedLongestGapMs: longestGap(undisturbed.completions),
        wallSeconds: { undisturbed: undisturbed.wallSeconds, chaos: chaos.wallSeconds },
        slowdown: Math.round((chaos.wallSeconds / undisturbed.wallSeconds) * 100) / 100,
        outcome: {
          state: chaos.state,
          verified: chaos.verified,
          digest: chaos.digest,
          digestEqualsUndisturbed: chaos.digest !== null && chaos.digest === undisturbed.digest,
          tasks: chaos.tasks,
          attempts: chaos.attempts,
          undisturbedAttempts: undisturbed.attempts,
        },
        definitions: {
          gapAroundKillMs:
            "from the last task completion committed before the kill to the first after it (leader stamps on TESSERA_EVENTS)",
          stallMs:
            "the longest gap between task completions that ends after the kill and before the next one: the stall it caused (a nats-server or scheduler kill stalls the job some time after it, once the commands already pulled or the work items already queued are done)",
          longestGapMs: "the longest time without a task completion during the chaos run",
          slowdown: "chaos wall ÷ undisturbed wall (the manifest's submit → finish)",
        },
      }),
    );
  } finally {
    await cluster.stop();
    rmSync(data, { recursive: true, force: true });
  }
}

runBench("chaos-soak", main);
