import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MatmulJobSpec, outputKey, referenceOutputTile, tileFileBytes } from "@tessera/matrix";
import { createObjectStore, type ObjectStore } from "@tessera/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelRunner } from "./kernel/kernel-runner.js";
import { executeWorkItem } from "./task-executor.js";
import { TileBufferPool } from "./tile-buffers.js";
import { readTile } from "./tile-store.js";
import { workItemFor } from "./work-item.test-helpers.js";

describe("TileBufferPool", () => {
  it("hands a released buffer to the next lease, never one still leased", () => {
    const pool = new TileBufferPool(1 << 20);
    const first = pool.lease();
    const a = first.alloc(8192);
    const second = pool.lease();
    const b = second.alloc(8192);
    expect(b).not.toBe(a);
    first.release();
    const third = pool.lease();
    expect(third.alloc(8192)).toBe(a);
    expect(third.alloc(8192)).not.toBe(b); // b is still second's
    expect(pool.snapshot()).toMatchObject({ reused: 1, allocated: 3 });
  });

  it("keeps at most maxFreeBytes and only the latest tile size", () => {
    const pool = new TileBufferPool(3 * 8192);
    const lease = pool.lease();
    for (let i = 0; i < 5; i++) lease.alloc(8192);
    lease.release();
    expect(pool.snapshot().freeBytes).toBe(3 * 8192);
    const other = pool.lease();
    other.alloc(16384);
    other.release();
    expect(pool.snapshot().freeBytes).toBe(16384);
  });

  it("refuses a lease used after release, and releasing twice is harmless", () => {
    const pool = new TileBufferPool(1 << 20);
    const lease = pool.lease();
    lease.alloc(8192);
    lease.release();
    lease.release();
    expect(pool.snapshot().freeBytes).toBe(8192);
    expect(() => lease.alloc(8192)).toThrow(/after release/);
  });
});

describe("tasks on reused buffers", () => {
  const spec: MatmulJobSpec = { n: 96, tile: 32, mode: "exact", seed: 11 };
  const K = spec.n / spec.tile;
  const jobId = "job-pool";
  let root: string;
  let store: ObjectStore;
  let runner: KernelRunner;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "tessera-tile-buffers-"));
    store = createObjectStore({ backend: "fs", root });
    // Fan-in 2: a reduce of K = 3 partials sums in two chunks, handing the first back in between.
    runner = await KernelRunner.create({ ep: "cpu", reduceFanIn: 2 });
  });
  afterAll(async () => {
    await runner.dispose();
    await store.close();
    await rm(root, { recursive: true, force: true });
  });

  const item = (kind: "map" | "reduce", i: number, j: number, k?: number) =>
    workItemFor(jobId, spec, kind, i, j, k);

  it("computes every output tile exactly while buffers from earlier tasks are reused", async () => {
    const buffers = new TileBufferPool(64 * tileFileBytes(spec.tile, spec.tile));
    const ctx = { store, runner, buffers, nodeId: "agent-test" };
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        for (let k = 0; k < K; k++) {
          const done = await executeWorkItem(item("map", i, j, k), ctx);
          expect(done.completion.status).toBe("ok");
        }
        const reduced = await executeWorkItem(item("reduce", i, j), ctx);
        expect(reduced.completion.error).toBeUndefined();
      }
    }
    // Partials were read into (and outputs written from) buffers that earlier tasks had used,
    // holding those tasks' values: every stored tile must still be the exact product.
    expect(buffers.snapshot().reused).toBeGreaterThan(K * K * K);
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const stored = await readTile(store, outputKey(jobId, i, j), spec.tile);
        expect(Array.from(stored)).toEqual(Array.from(referenceOutputTile(spec, i, j)));
      }
    }
  });
});
