/**
 * End-of-scenario checks: every peer converges to the same applied index and FSM digest, and
 * every acknowledged counted job is applied exactly once on every peer.
 */
import { sleep } from "@tessera/harness";
import { type ClusterView, fetchClusterView } from "./api.js";
import type { ConsensusCluster } from "./cluster.js";
import { ClusterError } from "./errors.js";
import { httpJson, isRecord } from "./http.js";
import type { PeerProcess } from "./peer-process.js";
import type { Ledger } from "./workload.js";

export interface PeerJobs {
  readonly appliedIndex: number;
  /** seed → how many jobs with that seed this peer's manifest holds. */
  readonly seeds: Map<number, number>;
  readonly jobCount: number;
}

function seedOfJob(job: unknown): number | undefined {
  if (!isRecord(job)) return undefined;
  const spec = isRecord(job.spec) ? job.spec : job;
  return typeof spec.seed === "number" ? spec.seed : undefined;
}

/** This peer's own manifest (a stale, local read: no consensus round, no forwarding). */
export async function peerJobs(peer: PeerProcess): Promise<PeerJobs> {
  const where = `peer ${peer.id} GET /v1/jobs?consistency=stale`;
  const res = await httpJson("GET", `${peer.httpUrl}/v1/jobs?consistency=stale`, undefined, 15_000);
  if (res.status !== 200 || !isRecord(res.body)) {
    throw new ClusterError("http", `${where}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
  const jobs = res.body.jobs;
  if (!Array.isArray(jobs)) throw new ClusterError("protocol", `${where}: no jobs array`);
  const seeds = new Map<number, number>();
  for (const job of jobs) {
    const seed = seedOfJob(job);
    if (seed === undefined) {
      throw new ClusterError("protocol", `${where}: job without spec.seed: ${JSON.stringify(job)}`);
    }
    seeds.set(seed, (seeds.get(seed) ?? 0) + 1);
  }
  const applied = res.body.appliedIndex;
  return {
    appliedIndex: typeof applied === "number" ? applied : -1,
    seeds,
    jobCount: jobs.length,
  };
}

/**
 * Polls until every running peer reports the same applied index (= its commit index) with a
 * leader known, then compares digests (GET /v1/cluster?digest=1, which hashes the manifest: asked only
 * once the indexes agree). Returns the views; throws with all of them after `timeoutMs`.
 */
export async function waitConverged(
  cluster: ConsensusCluster,
  timeoutMs = 60_000,
): Promise<ClusterView[]> {
  const deadline = Date.now() + timeoutMs;
  let described = "";
  for (;;) {
    const running = cluster.running();
    const infos = [...(await cluster.views()).values()];
    const indexesAgree = infos.every(
      (v) =>
        v !== undefined &&
        v.leaderId !== 0 &&
        v.appliedIndex === infos[0]?.appliedIndex &&
        v.appliedIndex === v.commitIndex,
    );
    described = running
      .map((p, i) => {
        const v = infos[i];
        return v
          ? `${p.id}: ${v.role} term ${v.term} commit ${v.commitIndex} applied ${v.appliedIndex}`
          : `${p.id}: no answer`;
      })
      .join("; ");
    if (indexesAgree) {
      const views = await Promise.all(
        running.map((p) => fetchClusterView(p, 15_000).catch(() => undefined)),
      );
      const ok = views.every(
        (v) =>
          v !== undefined &&
          v.appliedIndex === views[0]?.appliedIndex &&
          v.digest !== undefined &&
          v.digest === views[0]?.digest,
      );
      if (ok) return views as ClusterView[];
      described = views
        .map((v, i) =>
          v
            ? `${v.id}: applied ${v.appliedIndex} digest ${v.digest?.slice(0, 12)}`
            : `${running[i]?.id}: no answer`,
        )
        .join("; ");
    }
    if (Date.now() > deadline) {
      throw new ClusterError(
        "invariant",
        `${cluster.name}: peers did not converge within ${timeoutMs} ms: ${described}; logs in ${cluster.dir}/logs`,
      );
    }
    await sleep(indexesAgree ? 500 : 100);
  }
}

/**
 * Waits until the leader's manifest holds every seed the ledger says JetStream acknowledged
 * (ingestion is asynchronous: a PubAck only means "stored in TESSERA_CMD").
 */
export async function waitForJetStreamApplied(
  cluster: ConsensusCluster,
  ledger: Ledger,
  timeoutMs = 60_000,
): Promise<void> {
  const want = [...ledger.acked.values()].filter((e) => e.door === "jetstream").map((e) => e.seed);
  const deadline = Date.now() + timeoutMs;
  let missing: number[] = want;
  for (;;) {
    const leader = await cluster.findLeader();
    if (leader) {
      const jobs = await peerJobs(leader.peer).catch(() => undefined);
      if (jobs) {
        missing = want.filter((s) => !jobs.seeds.has(s));
        if (missing.length === 0) return;
      }
    }
    if (Date.now() > deadline) {
      throw new ClusterError(
        "invariant",
        `${cluster.name}: ${missing.length} of ${want.length} JetStream-acknowledged commands never applied (e.g. seeds ${missing.slice(0, 10).join(", ")}); logs in ${cluster.dir}/logs`,
      );
    }
    // Each poll lists every job on the leader: not too often.
    await sleep(1_000);
  }
}

export interface ExactlyOnceReport {
  readonly peers: number;
  readonly acked: number;
  readonly appliedPerPeer: number;
  readonly unackedApplied: number;
}

/**
 * Every acknowledged seed exactly once on every running peer; no seed (acknowledged or not)
 * more than once anywhere; nothing that was never sent. Returns counts for the test log.
 */
export async function checkExactlyOnce(
  cluster: ConsensusCluster,
  ledger: Ledger,
): Promise<ExactlyOnceReport> {
  const problems: string[] = [];
  let appliedPerPeer = -1;
  let unackedApplied = 0;
  for (const peer of cluster.running()) {
    const jobs = await peerJobs(peer);
    if (appliedPerPeer >= 0 && jobs.jobCount !== appliedPerPeer) {
      problems.push(`peer ${peer.id} holds ${jobs.jobCount} jobs, another peer ${appliedPerPeer}`);
    }
    appliedPerPeer = jobs.jobCount;
    const missing: number[] = [];
    for (const seed of ledger.acked.keys()) if (!jobs.seeds.has(seed)) missing.push(seed);
    if (missing.length > 0) {
      const sample = missing.slice(0, 5).map((s) => JSON.stringify(ledger.acked.get(s)));
      problems.push(
        `peer ${peer.id}: ${missing.length} acknowledged commands not applied, e.g. ${sample.join(", ")}`,
      );
    }
    let unacked = 0;
    for (const [seed, count] of jobs.seeds) {
      if (count > 1) {
        problems.push(
          `peer ${peer.id}: seed ${seed} applied ${count} times (${JSON.stringify(ledger.sent.get(seed))})`,
        );
      }
      if (!ledger.sent.has(seed)) problems.push(`peer ${peer.id}: seed ${seed} was never sent`);
      if (!ledger.acked.has(seed)) unacked++;
    }
    unackedApplied = unacked;
  }
  if (ledger.refused.length > 0) {
    problems.push(
      `${ledger.refused.length} valid commands refused, e.g. ${JSON.stringify(ledger.refused.slice(0, 3))}`,
    );
  }
  if (problems.length > 0) {
    throw new ClusterError(
      "invariant",
      `${cluster.name}: exactly-once violated:\n  ${problems.slice(0, 20).join("\n  ")}\nlogs in ${cluster.dir}/logs`,
    );
  }
  return {
    peers: cluster.running().length,
    acked: ledger.acked.size,
    appliedPerPeer,
    unackedApplied,
  };
}
