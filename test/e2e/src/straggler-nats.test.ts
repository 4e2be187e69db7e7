// A straggling agent (speculative duplicates finish the job), one member of a 3-node NATS
// JetStream cluster SIGKILLed mid-job, and the only nats-server SIGKILLed mid-job and started
// again: each ends succeeded, verified, with the reference digest.
import { startNatsCluster, startNatsServer } from "@tessera/harness";
import type { MatmulJobSpec } from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import { jobEvents, natsUrls, referenceDigest, submitViaCli } from "./jobs.js";
import {
  expectVerified,
  ofType,
  onCleanup,
  startCluster,
  useClusterPerTest,
  whenDone,
} from "./scenario.test-helpers.js";
import { slowAgentEnv } from "./storage.js";

const spec: MatmulJobSpec = { n: 256, tile: 64, mode: "exact", seed: 5 };

describe("e2e: stragglers and NATS failures", () => {
  useClusterPerTest();
  const digest = referenceDigest(spec);

  it("finishes through speculative attempts when an agent is slowed down", async () => {
    const cluster = await startCluster();
    const jobId = "e2e-straggler";
    // agent-2 becomes a straggler: each of its storage writes under jobs/ waits 5 s (heartbeats
    // keep flowing, so it is slow, not dead; 5 s stays under the 10 s minimum deadline).
    await cluster.kill("agent-2");
    await cluster.restart("agent-2", slowAgentEnv(5_000));

    const r = await submitViaCli(cluster, spec, jobId).result;
    expectVerified(r, spec, digest);

    const events = await jobEvents(natsUrls(cluster), jobId);
    const speculative = ofType(events, "task.started").filter((e) => e.speculative === true);
    expect(speculative.length, "speculative attempts started").toBeGreaterThan(0);
    // The summary counts them: every attempt started, more than one per task here.
    expect(r.attempts).toBe(ofType(events, "task.started").length);
    expect(r.attempts).toBeGreaterThanOrEqual(r.tasks + speculative.length);
    // At least one task was finished by its speculative attempt, on the fast agent, and the
    // straggler's attempt of that task was released as the loser.
    const wonBySpeculation = ofType(events, "task.completed").filter((c) =>
      speculative.some((s) => s.taskId === c.taskId && s.attempt === c.attempt),
    );
    expect(wonBySpeculation.length, "tasks completed by a speculative attempt").toBeGreaterThan(0);
    expect(new Set(wonBySpeculation.map((c) => c.nodeId))).toEqual(new Set(["agent-1"]));
    const released = ofType(events, "task.attempt-released").filter(
      (e) => e.reason === "lost-race",
    );
    expect(released.length).toBeGreaterThan(0);
  });

  it("survives one node of a 3-node NATS cluster SIGKILLed mid-job", async () => {
    const nats = await startNatsCluster({ mode: "process" });
    onCleanup(() => nats.stop());
    // dev up --nats URL,URL,URL: every service connects to all three; streams are R3.
    // Paced tile writes (see storage-controls.test.ts) keep the job running when the member dies.
    const cluster = await startCluster({ nats: nats.urls, env: slowAgentEnv(50) });
    const jobId = "e2e-nats-kill";
    const run = submitViaCli(cluster, spec, jobId);
    const before = await whenDone(cluster, jobId, 16);
    expect(before.state).toBe("running");
    // Kill the JetStream meta leader: the most disruptive member to lose.
    const metaLeader = await nats.waitForMetaLeader();
    const victim = nats.servers.find((s) => s.name === metaLeader) ?? nats.servers[0];
    if (!victim) throw new Error("the NATS cluster has no servers");
    await victim.kill();

    const r = await run.result;
    expectVerified(r, spec, digest);
    const events = await jobEvents(
      natsUrls(cluster).filter((u) => u !== victim.url),
      jobId,
    );
    expect(ofType(events, "job.succeeded")).toHaveLength(1);
  });

  it("survives the only nats-server SIGKILLed mid-job and started again", async () => {
    // A whole-bus outage: every service loses NATS at once (commands, events, work items,
    // heartbeats) and must reconnect to the same server and store dir, with no job state lost.
    const server = await startNatsServer({ mode: "process" });
    onCleanup(() => server.stop());
    const cluster = await startCluster({ nats: [server.url], env: slowAgentEnv(50) });
    const jobId = "e2e-nats-restart";
    const run = submitViaCli(cluster, spec, jobId);
    const before = await whenDone(cluster, jobId, 16);
    expect(before.state).toBe("running");
    await server.kill();
    // Long enough for every client to notice (pings, failed publishes), short of any deadline.
    await new Promise((r) => setTimeout(r, 2_000));
    await server.restart();

    const r = await run.result;
    expectVerified(r, spec, digest);
    const events = await jobEvents(natsUrls(cluster), jobId);
    expect(ofType(events, "job.succeeded")).toHaveLength(1);
  });
});
