// A stored partial corrupted on disk mid-job (detected by the checksum on read, reset and
// recomputed), and the operator controls: pause/resume and cancel mid-job.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { MatmulJobSpec } from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import {
  getJob,
  jobControl,
  jobEvents,
  natsUrls,
  referenceDigest,
  submitViaCli,
  waitJob,
} from "./jobs.js";
import {
  expectVerified,
  ofType,
  pauseUntilIdle,
  startCluster,
  useClusterPerTest,
  waitPartialsGone,
  whenDone,
} from "./scenario.test-helpers.js";
import { flipByte, slowAgentEnv, storedTiles } from "./storage.js";

const spec: MatmulJobSpec = { n: 256, tile: 64, mode: "exact", seed: 3 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Every agent's tile writes wait `writeDelayMs` (slow-storage.ts), so the job lasts seconds and
 * a control sent after N tasks lands mid-job however fast the machine runs them: unpaced, a fast
 * run finished the job before the pause was committed. The `tessera job pause` that follows is a
 * CLI process (start, connect, commit: about a second on a busy 2-core box), so the tasks left
 * must keep 2 agents × 2 slots busy for several seconds at the given delay.
 */
const PACED = (writeDelayMs: number) => startCluster({ env: slowAgentEnv(writeDelayMs) });

describe("e2e: corrupt storage and operator controls", () => {
  useClusterPerTest();
  const digest = referenceDigest(spec);

  // kPerMap 2: the corrupt partial is a sum of two inner products, and its map is a group.
  // kPerMap 4 = K (what `--k-per-map auto` picks here): its reduce stores the partial's bytes as
  // the output, so the check on that path must catch the corruption too.
  it.each([1, 2, 4])(
    "detects a partial corrupted on disk mid-job and recomputes it (kPerMap %i)",
    async (kPerMap) => {
      // 80, 48, 32 tasks: 72, 40, 24 left after the first 8, i.e. 5–7 s at this pace.
      const cluster = await PACED(300 * kPerMap);
      const jobSpec = kPerMap === 1 ? spec : { ...spec, kPerMap };
      const jobId = `e2e-corrupt-${kPerMap}`;
      const run = submitViaCli(cluster, jobSpec, jobId);
      // A partial whose reduce has not produced its output yet, found while placements are held
      // so the corruption lands before that reduce reads it. The scheduler places a row's reduce
      // as soon as its maps are done, so a pause can land when every finished map's reduce has
      // run too (always so with kPerMap 4, one map per reduce, if no map was running): then let
      // the job go on a little and pause again.
      await whenDone(cluster, jobId, 8);
      let victim: string | undefined;
      for (let round = 1; ; round++) {
        const paused = await pauseUntilIdle(cluster, jobId);
        expect(paused.counts.reducesDone).toBeLessThan(paused.counts.reduces);
        victim = storedTiles(cluster.storageRoot, jobId, "partials").find((f) => {
          const [i, j] = (f.split("/").pop() ?? "").split("-");
          return !existsSync(join(cluster.storageRoot, "jobs", jobId, "C", `${i}-${j}.tile`));
        });
        console.log(
          JSON.stringify({ e2e: "corrupt partial: pause", kPerMap, round, found: !!victim }),
        );
        if (victim || round === 4) break;
        await jobControl(cluster, jobId, "resume");
        await whenDone(cluster, jobId, paused.counts.done + 1);
      }
      if (!victim) throw new Error("no stored partial with a pending reduce after 4 pauses");
      flipByte(victim);
      const name = (victim.split("/").pop() ?? "").replace(/\.tile$/, "");
      const mapTask = `m-${name}`;
      await jobControl(cluster, jobId, "resume");

      const r = await run.result;
      expectVerified(r, jobSpec, digest);
      const view = await getJob(cluster, jobId);
      expect(view?.counts.resets ?? 0).toBeGreaterThan(0);
      const events = await jobEvents(natsUrls(cluster), jobId);
      // The corrupt partial was reset and its map ran again.
      expect(ofType(events, "task.reset").map((e) => e.taskId)).toContain(mapTask);
      expect(ofType(events, "task.completed").filter((e) => e.taskId === mapTask).length).toBe(2);
    },
  );

  it("pauses and resumes mid-job, then cancels another job mid-job (partials cleaned)", async () => {
    const cluster = await PACED(250);

    // Pause / resume.
    const jobId = "e2e-pause";
    const run = submitViaCli(cluster, spec, jobId);
    await whenDone(cluster, jobId, 10);
    const paused = await pauseUntilIdle(cluster, jobId);
    // Paused means no new placements: nothing starts while we look away for a while.
    await sleep(2_000);
    const still = await getJob(cluster, jobId);
    expect(still?.state).toBe("paused");
    expect(still?.counts.done).toBe(paused.counts.done);
    expect(still?.counts.liveAttempts).toBe(0);
    await jobControl(cluster, jobId, "resume");
    const r = await run.result;
    expectVerified(r, spec, digest);
    const events = await jobEvents(natsUrls(cluster), jobId);
    expect(ofType(events, "job.paused")).toHaveLength(1);
    expect(ofType(events, "job.resumed")).toHaveLength(1);

    // Cancel.
    const cancelId = "e2e-cancel";
    const cancelRun = submitViaCli(cluster, { ...spec, seed: 4 }, cancelId);
    await whenDone(cluster, cancelId, 10);
    await jobControl(cluster, cancelId, "cancel");
    const cancelled = await cancelRun.result;
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.verified).not.toBe(true);
    const view = await waitJob(cluster, cancelId, "cancelled", (v) => v.state === "cancelled");
    expect(view.counts.liveAttempts).toBe(0);
    // Partials cleaned by the storage-manager.
    await waitPartialsGone(cluster, cancelId);
  });
});
