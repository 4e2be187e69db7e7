// The scheduler and the storage-manager SIGKILLed mid-job. Neither keeps state of its own (the
// manifest is the truth), so each restarted process rebuilds from the manifest and the event
// stream: the job ends succeeded, verified, with the digest of an undisturbed run, and its
// partials are cleaned. The storage-manager stays down until the job has computed, so the
// verification that ends the job is done entirely by the restarted process.
import type { MatmulJobSpec } from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import { getJob, jobEvents, natsUrls, referenceDigest, submitViaCli, waitJob } from "./jobs.js";
import {
  expectVerified,
  ofType,
  startCluster,
  useClusterPerTest,
  waitPartialsGone,
  whenDone,
} from "./scenario.test-helpers.js";
import { slowAgentEnv } from "./storage.js";

// Grouped maps (kPerMap 2), as `--k-per-map auto` submits by default: a restarted scheduler
// must rebuild the job's real shape (it once dropped kPerMap and stalled the job for good).
const spec: MatmulJobSpec = { n: 384, tile: 64, mode: "exact", seed: 13, kPerMap: 2 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("e2e: scheduler and storage-manager failures", () => {
  useClusterPerTest();
  const digest = referenceDigest(spec);

  it("survives the scheduler and the storage-manager SIGKILLed mid-job", async () => {
    // Paced tile writes keep the job running while the processes are down and restarted.
    const cluster = await startCluster({ env: slowAgentEnv(50) });
    const jobId = "e2e-service-kills";
    const run = submitViaCli(cluster, spec, jobId);
    const K = spec.n / spec.tile;
    const total = (K * K * K) / (spec.kPerMap ?? 1) + K * K;

    const before = await whenDone(cluster, jobId, Math.floor(total * 0.15));
    expect(before.state, "the job is still running when the services die").toBe("running");
    await cluster.kill("scheduler");
    await cluster.kill("storage-manager");
    // With no scheduler nothing new is placed; what was already queued may still finish. The
    // job must neither fail nor lose what was done.
    await sleep(1_500);
    const down = await getJob(cluster, jobId);
    expect(down?.state).toBe("running");
    expect(down?.counts.done ?? 0).toBeGreaterThanOrEqual(before.counts.done);
    await cluster.restart("scheduler");

    // Every reduce completes without a storage-manager; the job then waits for its verdict.
    const computed = await waitJob(cluster, jobId, "computed", (v) => v.state === "verifying");
    expect(computed.counts.reducesDone).toBe(K * K);
    await sleep(1_000);
    expect((await getJob(cluster, jobId))?.state, "no verdict without a storage-manager").toBe(
      "verifying",
    );
    await cluster.restart("storage-manager");

    const r = await run.result;
    expectVerified(r, spec, digest);
    const events = await jobEvents(natsUrls(cluster), jobId);
    expect(ofType(events, "job.verified")).toHaveLength(1);
    expect(ofType(events, "job.succeeded")).toHaveLength(1);
    await waitPartialsGone(cluster, jobId);
  });
});
