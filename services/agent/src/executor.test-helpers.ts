// Fixtures for suites that run work items through executeWorkItem on a real fs store and real
// ONNX Runtime kernels.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MatmulJobSpec, outputKey, partialKey, referenceOutputTile } from "@tessera/matrix";
import { type WorkItemV1, workItemId } from "@tessera/protocol";
import { createObjectStore, type ObjectStore } from "@tessera/storage";
import { afterAll, beforeAll, expect } from "vitest";
import { KernelRunner } from "./kernel/kernel-runner.js";
import { type ExecutionContext, executeWorkItem } from "./task-executor.js";
import { readTile } from "./tile-store.js";

/** A valid first-attempt work item for map (i,j,k) or reduce (i,j) of `spec`. */
export function workItemFor(
  jobId: string,
  spec: MatmulJobSpec,
  kind: "map" | "reduce",
  i: number,
  j: number,
  k?: number,
): WorkItemV1 {
  const taskId = kind === "map" ? `m-${i}-${j}-${k}` : `r-${i}-${j}`;
  return {
    v: 1,
    itemId: workItemId(jobId, taskId, 1),
    jobId,
    taskId,
    attempt: 1,
    kind,
    job: spec,
    i,
    j,
    ...(kind === "map" ? { k } : {}),
    pool: "cpu",
    issuedAt: Date.now(),
  };
}

export interface ExecutorFixture {
  readonly store: ObjectStore;
  /** CPU, reduce fan-in 2: a reduce of more than 2 partials sums in chunks. */
  readonly runner: KernelRunner;
}

/** A temp-dir fs store and a kernel runner for the enclosing suite, removed after it. */
export function useExecutorFixture(): ExecutorFixture {
  let root = "";
  const fixture = {} as { store: ObjectStore; runner: KernelRunner };
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "tessera-executor-"));
    fixture.store = createObjectStore({ backend: "fs", root });
    fixture.runner = await KernelRunner.create({ ep: "cpu", reduceFanIn: 2 });
  });
  afterAll(async () => {
    await fixture.runner.dispose();
    await fixture.store.close();
    await rm(root, { recursive: true, force: true });
  });
  return fixture;
}

/** Runs every map, then each output tile's reduce, of the job; every task must succeed. */
export async function runJob(jobId: string, spec: MatmulJobSpec, ctx: ExecutionContext) {
  const K = spec.n / spec.tile;
  const G = K / (spec.kPerMap ?? 1);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      for (let k = 0; k < G; k++) {
        const map = await executeWorkItem(workItemFor(jobId, spec, "map", i, j, k), ctx);
        expect(map.completion.error).toBeUndefined();
        expect(map.completion.output?.key).toBe(partialKey(jobId, i, j, k));
      }
      const reduce = await executeWorkItem(workItemFor(jobId, spec, "reduce", i, j), ctx);
      expect(reduce.completion.error).toBeUndefined();
    }
  }
}

/** Every stored output tile of the job equals the reference product (exact mode). */
export async function expectOutputsExact(store: ObjectStore, jobId: string, spec: MatmulJobSpec) {
  const K = spec.n / spec.tile;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      const stored = await readTile(store, outputKey(jobId, i, j), spec.tile);
      expect(Array.from(stored)).toEqual(Array.from(referenceOutputTile(spec, i, j)));
    }
  }
}
