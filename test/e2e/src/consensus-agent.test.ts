// The consensus leader SIGKILLed twice during a job, an agent SIGKILLed mid-task, and an agent
// SIGKILLed with a warm standby waiting: each run ends succeeded, verified, with the digest of an
// undisturbed run (the reference GEMM's digest, which the first scenario shows an undisturbed
// cluster run produces).
import { readFileSync } from "node:fs";
import type { MatmulJobSpec } from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import type { E2eCluster } from "./cluster.js";
import {
  getJob,
  jobEvents,
  natsUrls,
  referenceDigest,
  runCli,
  submitViaCli,
  whenListed,
} from "./jobs.js";
import {
  expectVerified,
  ofType,
  startCluster,
  useClusterPerTest,
  whenDone,
} from "./scenario.test-helpers.js";
import { slowAgentEnv } from "./storage.js";

const small: MatmulJobSpec = { n: 256, tile: 64, mode: "exact", seed: 7 };
// Leader kills need a job long enough for two elections and a peer restart in between.
const longer: MatmulJobSpec = { n: 384, tile: 64, mode: "exact", seed: 11 };

/** Waits until agent-1 (given slow writes) is writing a tile of `jobId`: the task writing it. */
async function slowWriteOfAgent1(cluster: E2eCluster, jobId: string): Promise<string> {
  const m = await cluster.waitLog(
    "agent-1",
    new RegExp(
      `tessera-e2e slow-write \\S*/jobs/${jobId}/(partials|C)/(\\d+)-(\\d+)(?:-(\\d+))?\\.tile`,
    ),
  );
  return m[1] === "C" ? `r-${m[2]}-${m[3]}` : `m-${m[2]}-${m[3]}-${m[4]}`;
}

describe("e2e: consensus and agent failures", () => {
  useClusterPerTest();
  const smallDigest = referenceDigest(small);
  const longerDigest = referenceDigest(longer);

  it("an undisturbed run is verified and its digest is the reference digest", async () => {
    const cluster = await startCluster();
    const r = await submitViaCli(cluster, small, "e2e-plain").result;
    expectVerified(r, small, smallDigest);
    // attempts counts every attempt the manifest started (a speculative one included).
    const started = ofType(await jobEvents(natsUrls(cluster), "e2e-plain"), "task.started");
    expect(r.attempts).toBe(started.length);
    expect(r.attempts).toBeGreaterThanOrEqual(r.tasks);
    // Maps that each sum two inner tiles (half the maps and partials): the same exact output.
    const grouped = { ...small, kPerMap: 2 };
    const g = await submitViaCli(cluster, grouped, "e2e-k-per-map").result;
    expectVerified(g, grouped, smallDigest);
    const events = await jobEvents(natsUrls(cluster), "e2e-k-per-map");
    expect(ofType(events, "job.submitted")[0]?.event).toMatchObject({ spec: grouped, maps: 32 });
  });

  it("survives the consensus leader SIGKILLed twice during the job", async () => {
    // Paced tile writes (see storage-controls.test.ts) keep the job running through both kills.
    const cluster = await startCluster({ env: slowAgentEnv(50) });
    const jobId = "e2e-leader-kills";
    const run = submitViaCli(cluster, longer, jobId);
    const K = longer.n / longer.tile;
    const total = K * K * K + K * K;

    const killed: number[] = [];
    let threshold = Math.floor(total * 0.1);
    for (let round = 0; round < 2; round++) {
      const before = await whenDone(cluster, jobId, threshold);
      expect(before.state, "the job is still running when the leader dies").toBe("running");
      const old = await cluster.killLeader();
      killed.push(old);
      const next = await cluster.leaderId();
      expect(next).not.toBe(old);
      // Back to three peers before the next kill: two dead peers of three would be no quorum.
      await cluster.restart(`peer-${old}`);
      const now = await getJob(cluster, jobId);
      threshold = (now?.counts.done ?? threshold) + Math.floor(total * 0.1);
    }
    expect(killed).toHaveLength(2);

    const r = await run.result;
    expectVerified(r, longer, longerDigest);
    const events = await jobEvents(natsUrls(cluster), jobId);
    expect(ofType(events, "job.succeeded")).toHaveLength(1);
    // Reduces armed ahead (services/scheduler/README.md) through the kills: each armed start
    // follows its arming in the log, and no reduce was started twice by it.
    const armings = ofType(events, "task.armed");
    const armedStarts = ofType(events, "task.started").filter(
      (e) => e.event.category === "task" && e.event.type === "started" && e.event.armed === true,
    );
    expect(armedStarts.length).toBeGreaterThan(0);
    for (const s of armedStarts) {
      const armedAt = armings.find((a) => a.taskId === s.taskId && a.attempt === s.attempt);
      expect(armedAt?.index, `${s.taskId} armed before it started`).toBeLessThan(s.index);
    }
    expect(new Set(armedStarts.map((s) => s.taskId)).size).toBe(armedStarts.length);
    // Most were handed over with the direct report of their last map (agents' default): bound
    // to that map's node, and completed there (no other agent ran a copy).
    const handed = armedStarts.filter(
      (e) => e.event.category === "task" && e.event.type === "started" && e.event.handed === true,
    );
    expect(handed.length).toBeGreaterThan(0);
    const completions = ofType(events, "task.completed");
    let checked = 0;
    for (const h of handed) {
      const node = h.event.category === "task" && "nodeId" in h.event ? h.event.nodeId : undefined;
      const done = completions.find((c) => c.taskId === h.taskId);
      // Expired in a kill and retried: the winner is another attempt, not this one's.
      if (!done || done.attempt !== h.attempt) continue;
      expect(done.event, `${h.taskId} completed by the node it was handed to`).toMatchObject({
        nodeId: node,
      });
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it("survives an agent SIGKILLed mid-task", async () => {
    const cluster = await startCluster();
    const jobId = "e2e-agent-kill";
    // agent-1 gets slow storage writes (see slow-storage.ts) so "mid-task" is certain: the kill
    // lands after it read its inputs and ran the kernel, before its output is stored.
    await cluster.kill("agent-1");
    await cluster.restart("agent-1", slowAgentEnv(2_000));
    const run = submitViaCli(cluster, small, jobId);
    const taskId = await slowWriteOfAgent1(cluster, jobId);
    await cluster.kill("agent-1");

    const r = await run.result;
    expectVerified(r, small, smallDigest);
    // The task agent-1 died in was completed by agent-2 (a new attempt, or the redelivered one).
    const events = await jobEvents(natsUrls(cluster), jobId);
    const completed = ofType(events, "task.completed").filter((e) => e.taskId === taskId);
    expect(completed.map((e) => e.nodeId)).toEqual(["agent-2"]);
  });

  it("an agent SIGKILLed mid-task and back under its node id before failure detection: the attempt it lost is expired and rerun", async () => {
    // Heartbeats every 10 s: the manifest would mark agent-1 failed only ~16 s after its last
    // beat, so its restart (a few seconds) comes first and it never is. agent-1 pulled the
    // attempt from the work queue (the manifest names no node for it) and its heartbeat listed
    // it; the restarted process knows nothing of it, and its heartbeats, listing nothing, are
    // what ends that attempt (scheduler --unlisted-after-ms, 8 s). The other ways out are kept
    // out of reach: the dead process's work message comes back only after the ack wait (60 s
    // here), no speculative twin is started, and the deadline is at least 60 s.
    const cluster = await startCluster({
      env: {
        TESSERA_HEARTBEAT_MS: "10000",
        TESSERA_ACK_WAIT_MS: "60000",
        TESSERA_SPECULATION_FACTOR: "0",
        TESSERA_MIN_DEADLINE_MS: "60000",
      },
    });
    const jobId = "e2e-agent-same-id";
    await cluster.kill("agent-1");
    await cluster.restart("agent-1", slowAgentEnv(15_000));
    const run = submitViaCli(cluster, small, jobId);
    const taskId = await slowWriteOfAgent1(cluster, jobId);
    await whenListed(cluster, "agent-1", jobId, taskId);
    await cluster.kill("agent-1");
    await cluster.restart("agent-1");

    const r = await run.result;
    expectVerified(r, small, smallDigest);
    const events = await jobEvents(natsUrls(cluster), jobId);
    const expired = ofType(events, "task.attempt-expired").filter((e) => e.taskId === taskId);
    expect(expired.map((e) => (e as { reason?: string }).reason)).toEqual([
      expect.stringMatching(/^node agent-1 does not hold attempt \d+: /),
    ]);
    const completed = ofType(events, "task.completed").filter((e) => e.taskId === taskId);
    expect(completed).toHaveLength(1);
    expect(completed[0]?.attempt).toBeGreaterThan(expired[0]?.attempt ?? Number.POSITIVE_INFINITY);
  });

  it("replaces an agent SIGKILLed mid-job with a warm standby the scheduler promotes", async () => {
    const cluster = await startCluster({ env: slowAgentEnv(50) });
    await cluster.addAgent("agent-3", ["--standby"]);
    const jobId = "e2e-standby";
    const run = submitViaCli(cluster, longer, jobId);
    const K = longer.n / longer.tile;
    await whenDone(cluster, jobId, Math.floor((K * K * K + K * K) * 0.15));
    const standbyLog = readFileSync(cluster.logOf("agent-3"), "utf8");
    expect(standbyLog, "a standby pulls nothing").not.toContain('"msg":"work item completed"');
    await cluster.kill("agent-1");

    // The manifest fails agent-1 (heartbeats stop), the scheduler asks agent-3 to promote itself.
    await cluster.waitLog(
      "agent-3",
      /"by":"scheduler:[^"]+".*"msg":"promoted from standby to active"/,
    );
    const r = await run.result;
    expectVerified(r, longer, longerDigest);
    const events = await jobEvents(natsUrls(cluster), jobId);
    const byNode = (id: string) =>
      ofType(events, "task.completed").filter((e) => e.nodeId === id).length;
    expect(byNode("agent-3"), "tasks the promoted standby completed").toBeGreaterThan(0);
    expect(ofType(events, "job.succeeded")).toHaveLength(1);
    // The operator's way to the same agent: `tessera node promote` finds it active already.
    const promote = runCli(cluster, ["node", "promote", "agent-3", "--nats", cluster.info.nats]);
    expect(await promote.result).toMatchObject({
      nodeId: "agent-3",
      state: "active",
      changed: false,
    });

    // Draining with a reason is a level-2 field: every peer of a fresh cluster supports it, so
    // the leader has raised the level; the reason stays with the node until it is undrained.
    const status = await runCli<{ featureLevel: number; peers: { featureLevel: number }[] }>(
      cluster,
      ["cluster", "status"],
    ).result;
    expect(status.featureLevel).toBe(2);
    expect(status.peers.map((p) => p.featureLevel)).toEqual([2, 2, 2]);
    const drain = runCli(cluster, ["node", "drain", "agent-3", "--reason", "rack move"]);
    expect(await drain.result).toMatchObject({ ok: true, result: { drained: true } });
    type Nodes = { nodes: { nodeId: string; drained: boolean; drainReason: string | null }[] };
    const agent3 = async () =>
      (await runCli<Nodes>(cluster, ["node", "list"]).result).nodes.find(
        (n) => n.nodeId === "agent-3",
      );
    expect(await agent3()).toMatchObject({ drained: true, drainReason: "rack move" });
    await runCli(cluster, ["node", "drain", "agent-3", "--undo"]).result;
    expect(await agent3()).toMatchObject({ drained: false, drainReason: null });
  });
});
