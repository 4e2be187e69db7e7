// Shared pieces of the e2e suites: one cluster per scenario (killed in afterEach whatever
// happens), the final checks every scenario ends with, and progress-based triggers (a disturbance
// fires when the job has done N tasks, never after a fixed sleep).
import type { MatmulJobSpec } from "@tessera/matrix";
import { afterEach, expect } from "vitest";
import { E2eCluster, type E2eClusterOptions } from "./cluster.js";
import { type JobEvent, type JobViewLite, jobControl, type SubmitResult, waitJob } from "./jobs.js";

let current: E2eCluster | undefined;
const cleanups: (() => Promise<void>)[] = [];

/** Registers the afterEach that kills the scenario's cluster (and anything else registered). */
export function useClusterPerTest(): void {
  afterEach(async () => {
    const c = current;
    current = undefined;
    try {
      await c?.stop();
    } finally {
      while (cleanups.length > 0)
        await cleanups
          .pop()?.()
          .catch(() => undefined);
    }
  });
}

export async function startCluster(o: E2eClusterOptions = {}): Promise<E2eCluster> {
  current = await E2eCluster.start(o);
  return current;
}

/** Runs after the cluster is stopped (e.g. stop a NATS cluster the scenario started). */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

/** What every scenario ends with: succeeded, verified by the storage-manager, the right digest. */
export function expectVerified(r: SubmitResult, spec: MatmulJobSpec, digest: string): void {
  const K = spec.n / spec.tile;
  expect(r, JSON.stringify(r)).toMatchObject({
    status: "succeeded",
    verified: true,
    digest,
    tasks: (K * K * K) / (spec.kPerMap ?? 1) + K * K,
  });
}

/** Waits until the running job has completed at least `done` tasks (and is not terminal). */
export function whenDone(
  cluster: E2eCluster,
  jobId: string,
  done: number,
  timeoutMs = 120_000,
): Promise<JobViewLite> {
  return waitJob(
    cluster,
    jobId,
    `at least ${done} tasks done`,
    (v) => v.counts.done >= done,
    timeoutMs,
  );
}

/** Pauses the job and waits until it is paused with no attempt left running. */
export async function pauseUntilIdle(cluster: E2eCluster, jobId: string): Promise<JobViewLite> {
  await jobControl(cluster, jobId, "pause");
  return waitJob(
    cluster,
    jobId,
    "paused with no live attempt",
    (v) => v.state === "paused" && v.counts.liveAttempts === 0,
  );
}

export function ofType(events: readonly JobEvent[], type: string): JobEvent[] {
  return events.filter((e) => `${e.category}.${e.type}` === type);
}
