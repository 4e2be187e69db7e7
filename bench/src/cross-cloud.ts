// `pnpm bench cross-cloud [--n 1024] [--tile 256] [--delays 0,10,25,50] [--jitter-pct 10] [--agents 2]`
//
// How cross-cloud latency between the consensus peers (the manifest replicated across clouds)
// affects a whole verified job (the seed's RQ3: "how cross-cloud latency impacts the Raft
// consensus time and overall training speed"). One local cluster of real processes (the CLI's
// DevCluster via @tessera/test-e2e); for each one-way delay D the same exact-mode job runs with
// D ± jitter injected on every Raft peer link (PUT /admin/faults on each peer: gRPC messages
// between peers are held back; clients, NATS and storage are untouched), so every commit — job
// submission, each attempt-start, each attempt-complete, the storage-manager's verdicts — pays
// at least one peer round trip (2D). A first run at D = 0 warms the agents (ORT sessions, input
// tiles) and is not reported.
//
// Per delay: wall (submit → verified, leader-stamped), GFLOP/s, tasks/s, the leader's commit
// latency over the run (mean and p99 from the tessera_raft_commit_latency_seconds histogram of
// every peer, before/after deltas), leader changes during the run (a delay beyond the election
// timeout shows up here), verified and the digest (identical for every delay, or the run fails).
// Last stdout line: one JSON object.
import type { MatmulJobSpec } from "@tessera/matrix";
import { E2eCluster, getJob, submitViaCli } from "@tessera/test-e2e";
import { FlagError, runBench } from "./_cli.js";

interface Flags {
  n: number;
  tile: number;
  delays: number[];
  jitterPct: number;
  agents: number;
}

function parseFlags(argv: readonly string[]): Flags {
  const f: Flags = { n: 1024, tile: 256, delays: [0, 10, 25, 50], jitterPct: 10, agents: 2 };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i] ?? "";
    const value = argv[i + 1] ?? "";
    const int = (min: number, max: number) => {
      const v = Number(value);
      if (!/^\d+$/.test(value) || v < min || v > max) {
        throw new FlagError(`${name}: ${JSON.stringify(value)} must be an integer ${min}..${max}`);
      }
      return v;
    };
    if (name === "--n") f.n = int(16, 65_536);
    else if (name === "--tile") f.tile = int(16, 8192);
    else if (name === "--jitter-pct") f.jitterPct = int(0, 100);
    else if (name === "--agents") f.agents = int(1, 16);
    else if (name === "--delays") {
      f.delays = value.split(",").map((d) => {
        const v = Number(d);
        if (!/^\d+$/.test(d) || v > 2_000) {
          throw new FlagError(`--delays: ${JSON.stringify(d)} must be an integer 0..2000 (ms)`);
        }
        return v;
      });
    } else {
      throw new FlagError(`unknown flag ${name}; flags: --n --tile --delays --jitter-pct --agents`);
    }
  }
  if (f.n % f.tile !== 0) throw new FlagError(`--tile: ${f.tile} must divide --n ${f.n}`);
  return f;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** One peer's commit-latency histogram (cumulative buckets) and leader-change counter. */
interface PeerSample {
  buckets: Map<number, number>;
  sum: number;
  count: number;
  leaderChanges: number;
}

async function sample(http: string): Promise<PeerSample> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const s: PeerSample = { buckets: new Map(), sum: 0, count: 0, leaderChanges: 0 };
  for (const line of text.split("\n")) {
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (line.startsWith("tessera_raft_commit_latency_seconds_bucket{")) {
      const le = /le="([^"]+)"/.exec(line)?.[1] ?? "+Inf";
      s.buckets.set(le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), value);
    } else if (line.startsWith("tessera_raft_commit_latency_seconds_sum")) s.sum = value;
    else if (line.startsWith("tessera_raft_commit_latency_seconds_count")) s.count = value;
    else if (line.startsWith("tessera_raft_leader_changes_total")) s.leaderChanges = value;
  }
  return s;
}

/** Commit latency over a run: every peer's observations between two samples, merged. */
function commitLatency(before: PeerSample[], after: PeerSample[]) {
  let sum = 0;
  let count = 0;
  const buckets = new Map<number, number>();
  after.forEach((a, i) => {
    const b = before[i] as PeerSample;
    sum += a.sum - b.sum;
    count += a.count - b.count;
    for (const [le, n] of a.buckets) {
      buckets.set(le, (buckets.get(le) ?? 0) + n - (b.buckets.get(le) ?? 0));
    }
  });
  // p99 as the smallest bucket bound holding 99 % of the run's commits (Prometheus-style bound).
  const bounds = [...buckets.keys()].sort((x, y) => x - y);
  const p99 = bounds.find((le) => (buckets.get(le) ?? 0) >= 0.99 * count);
  return {
    commits: count,
    meanMs: count > 0 ? round((sum / count) * 1000, 2) : null,
    p99AtMostMs: p99 === undefined || !Number.isFinite(p99) ? null : round(p99 * 1000, 2),
  };
}

async function setDelay(cluster: E2eCluster, delayMs: number, jitterMs: number): Promise<void> {
  for (const p of cluster.info.peers) {
    const res = await fetch(`${p.http}/admin/faults`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ default: { delayMs, jitterMs, lossRate: 0 } }),
    });
    if (!res.ok) throw new Error(`peer ${p.id} PUT /admin/faults: HTTP ${res.status}`);
  }
}

async function runJob(cluster: E2eCluster, spec: MatmulJobSpec, jobId: string) {
  const summary = await submitViaCli(cluster, spec, jobId, 1_800_000).result;
  const view = (await getJob(cluster, jobId)) as unknown as {
    submittedAt: number;
    finishedAt: number | null;
  };
  if (summary.status !== "succeeded" || !summary.verified) {
    throw new Error(`job ${jobId} ended ${summary.status}, verified ${summary.verified}`);
  }
  return { summary, wallSeconds: ((view.finishedAt ?? Date.now()) - view.submittedAt) / 1000 };
}

async function main(): Promise<void> {
  const f = parseFlags(process.argv.slice(2));
  const spec: MatmulJobSpec = { n: f.n, tile: f.tile, mode: "exact", seed: 1 };
  const K = f.n / f.tile;
  const tasks = K ** 3 + K ** 2;
  const cluster = await E2eCluster.start({ agents: f.agents });
  try {
    process.stderr.write("warm-up run (no delay)\n");
    const warm = await runJob(cluster, spec, "xc-warmup");
    const results = [];
    for (const delayMs of f.delays) {
      const jitterMs = Math.round((delayMs * f.jitterPct) / 100);
      await setDelay(cluster, delayMs, jitterMs);
      const before = await Promise.all(cluster.info.peers.map((p) => sample(p.http)));
      const { summary, wallSeconds } = await runJob(cluster, spec, `xc-${delayMs}ms`);
      const after = await Promise.all(cluster.info.peers.map((p) => sample(p.http)));
      if (summary.digest !== warm.summary.digest) {
        throw new Error(
          `digest at ${delayMs} ms differs: ${summary.digest} vs ${warm.summary.digest}`,
        );
      }
      const r = {
        oneWayDelayMs: delayMs,
        jitterMs,
        wallSeconds: round(wallSeconds),
        gflops: round((2 * f.n ** 3) / (wallSeconds * 1e9), 2),
        tasksPerSecond: round(tasks / wallSeconds, 1),
        commitLatency: commitLatency(before, after),
        leaderChanges: after.reduce(
          (s, a, i) => s + a.leaderChanges - (before[i]?.leaderChanges ?? 0),
          0,
        ),
        verified: summary.verified,
      };
      process.stderr.write(`${JSON.stringify(r)}\n`);
      results.push(r);
    }
    await setDelay(cluster, 0, 0);
    const base = results.find((r) => r.oneWayDelayMs === 0) ?? results[0];
    console.log(
      JSON.stringify({
        bench: "cross-cloud",
        measured:
          "one exact-mode job per one-way delay injected on every Raft peer link (clients, NATS and storage untouched); wall = submit → verified",
        spec,
        tasks,
        agents: f.agents,
        digest: warm.summary.digest,
        results,
        slowdownVsNoDelay: base
          ? Object.fromEntries(
              results.map((r) => [
                `${r.oneWayDelayMs}ms`,
                round(r.wallSeconds / base.wallSeconds, 2),
              ]),
            )
          : {},
      }),
    );
  } finally {
    await cluster.stop();
  }
}

runBench("cross-cloud", main);
