import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type MatmulJobSpec,
  outputKey,
  partialKey,
  referenceOutputTile,
  tileFileBytes,
} from "@tessera/matrix";
import { createObjectStore, type ObjectStore } from "@tessera/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelRunner } from "./kernel/kernel-runner.js";
import { KernelThreads } from "./kernel/kernel-threads.js";
import type { ExecutionContext } from "./task-executor.js";
import { executeWorkItem } from "./task-executor.js";
import { TileBufferPool } from "./tile-buffers.js";
import { readTile } from "./tile-store.js";
import { workItemFor } from "./work-item.test-helpers.js";

/** Runs every map then every reduce of the job and returns each output tile as stored. */
async function runJob(jobId: string, spec: MatmulJobSpec, ctx: ExecutionContext) {
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

describe("maps that sum several inner tiles (kPerMap)", () => {
  // K = 4 tiles per side; fan-in 2 makes a map of 4 inner tiles sum its products in 3 chunks.
  const base: MatmulJobSpec = { n: 128, tile: 32, mode: "exact", seed: 5 };
  let root: string;
  let store: ObjectStore;
  let runner: KernelRunner;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "tessera-kpermap-"));
    store = createObjectStore({ backend: "fs", root });
    runner = await KernelRunner.create({ ep: "cpu", reduceFanIn: 2 });
  });
  afterAll(async () => {
    await runner.dispose();
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  const expectExact = async (jobId: string, spec: MatmulJobSpec) => {
    const K = spec.n / spec.tile;
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const stored = await readTile(store, outputKey(jobId, i, j), spec.tile);
        expect(Array.from(stored)).toEqual(Array.from(referenceOutputTile(spec, i, j)));
      }
    }
  };

  it.each([2, 4])("kPerMap %i: every output tile is the exact product", async (kPerMap) => {
    const spec = { ...base, kPerMap };
    const buffers = new TileBufferPool(16 * tileFileBytes(spec.tile, spec.tile));
    await runJob(`kpm-${kPerMap}`, spec, { store, runner, buffers, nodeId: "agent-test" });
    await expectExact(`kpm-${kPerMap}`, spec);
  });

  it("a map's partial is the sum of its inner products (kPerMap 2, no buffer pool)", async () => {
    const spec = { ...base, kPerMap: 2 };
    const ctx = { store, runner, nodeId: "agent-test" };
    const map = await executeWorkItem(workItemFor("kpm-part", spec, "map", 1, 2, 1), ctx);
    expect(map.completion.status).toBe("ok");
    const one = { ...base };
    for (const k of [2, 3]) {
      await executeWorkItem(workItemFor("kpm-one", one, "map", 1, 2, k), ctx);
    }
    const grouped = await readTile(store, partialKey("kpm-part", 1, 2, 1), base.tile);
    const p2 = await readTile(store, partialKey("kpm-one", 1, 2, 2), base.tile);
    const p3 = await readTile(store, partialKey("kpm-one", 1, 2, 3), base.tile);
    expect(Array.from(grouped)).toEqual(Array.from(p2, (x, idx) => x + (p3[idx] ?? 0)));
  });

  it("runs the products on a kernel thread with the same result", async () => {
    const own = await KernelRunner.create({ ep: "cpu", reduceFanIn: 2 });
    const threads = new KernelThreads(own, { threads: 1, inlineMaxTile: 16 });
    try {
      const spec = { ...base, kPerMap: 4 };
      await runJob("kpm-threads", spec, { store, runner: threads, nodeId: "agent-test" });
      await expectExact("kpm-threads", spec);
    } finally {
      await threads.dispose();
    }
  });
});
