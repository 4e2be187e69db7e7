// The batched task path (jobs in mode "empty", services/scheduler/README.md) under the same
// faults as the one-message-per-task path: the scheduler SIGKILLed and restarted mid-job (it
// regroups live attempts by their recorded batch and re-publishes under the same msg ids), then
// an agent SIGKILLed mid-job (its batches in flight come back to the other agent). The job ends
// succeeded with every task completed exactly once in the manifest.
import type { MatmulJobSpec } from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import { jobEvents, natsUrls, submitViaCli } from "./jobs.js";
import { ofType, startCluster, useClusterPerTest, whenDone } from "./scenario.test-helpers.js";

// K = 24: 13,824 maps + 576 reduces, long enough on two cores to kill things mid-job.
const spec: MatmulJobSpec = { n: 768, tile: 32, mode: "empty", seed: 5, kPerMap: 1 };
const K = spec.n / spec.tile;
const total = K * K * K + K * K;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("e2e: batched empty tasks", () => {
  useClusterPerTest();

  it("survives the scheduler and then an agent SIGKILLed mid-job; every task completes once", async () => {
    const cluster = await startCluster();
    const jobId = "e2e-batched";
    const run = submitViaCli(cluster, spec, jobId, 300_000);

    const early = await whenDone(cluster, jobId, Math.floor(total * 0.05));
    expect(early.state, "the job is still running when the scheduler dies").toBe("running");
    await cluster.kill("scheduler");
    await sleep(500);
    await cluster.restart("scheduler");

    const mid = await whenDone(cluster, jobId, Math.floor(total * 0.5));
    expect(mid.state, "the job is still running when the agent dies").toBe("running");
    await cluster.kill("agent-1");

    const r = await run.result;
    expect(r).toMatchObject({ jobId, status: "succeeded", tasks: total });
    expect(r.attempts).toBeGreaterThanOrEqual(total);

    const events = await jobEvents(natsUrls(cluster), jobId);
    const completed = ofType(events, "task.completed");
    expect(completed).toHaveLength(total);
    expect(new Set(completed.map((e) => e.taskId)).size).toBe(total);
    // The work went the batched way: most starts carry the batch that recorded them, and a
    // batch holds many of them.
    const started = ofType(events, "task.started");
    const batched = started.filter((e) => e.batch !== undefined);
    expect(batched.length).toBeGreaterThan(total / 2);
    expect(new Set(batched.map((e) => e.batch)).size).toBeLessThan(batched.length / 4);
  });
});
