// Shared pieces of the e2e suites: one cluster per scenario (killed in afterEach whatever
// happens), the final checks every scenario ends with, and progress-based triggers (a disturbance
// fires when the job has done N tasks, never after a fixed sleep).
import type { MatmulJobSpec } from "@tessera/matrix";
import { afterEach, expect } from "vitest";
import { apiFetch, apiHeaders, E2eCluster, type E2eClusterOptions } from "./cluster.js";
import { type JobEvent, type JobViewLite, jobControl, type SubmitResult, waitJob } from "./jobs.js";
import { storedTiles } from "./storage.js";

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

/**
 * Waits until a finished or cancelled job's partials are gone: none left on disk and the
 * storage-manager reporting none stored (after a cancel, a released attempt may still be
 * finishing its write on an agent, so one look is not enough).
 */
export async function waitPartialsGone(cluster: E2eCluster, jobId: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last: unknown;
  while (Date.now() < deadline) {
    const onDisk = storedTiles(cluster.storageRoot, jobId, "partials").length;
    // The same access as the peers' API: its CA and token when the cluster requires them.
    const res = await apiFetch()(`${cluster.storageManagerHttp}/v1/jobs/${jobId}/outputs`, {
      headers: apiHeaders(),
    }).catch(() => undefined);
    last = res?.ok ? await res.json() : res?.status;
    const reported = (last as { partialsStored?: number } | undefined)?.partialsStored;
    if (onDisk === 0 && reported === 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`partials of ${jobId} not cleaned; storage-manager says ${JSON.stringify(last)}`);
}
