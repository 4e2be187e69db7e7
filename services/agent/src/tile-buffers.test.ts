import { type MatmulJobSpec, tileFileBytes } from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import { expectOutputsExact, runJob, useExecutorFixture } from "./executor.test-helpers.js";
import { TileBufferPool } from "./tile-buffers.js";

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
  // K = 3: with the fixture's fan-in 2 a reduce sums in two chunks, handing the first back.
  const spec: MatmulJobSpec = { n: 96, tile: 32, mode: "exact", seed: 11 };
  const K = spec.n / spec.tile;
  const fx = useExecutorFixture();

  it("computes every output tile exactly while buffers from earlier tasks are reused", async () => {
    const buffers = new TileBufferPool(64 * tileFileBytes(spec.tile, spec.tile));
    await runJob("job-pool", spec, {
      store: fx.store,
      runner: fx.runner,
      buffers,
      nodeId: "agent-test",
    });
    // Partials were read into (and outputs written from) buffers that earlier tasks had used,
    // holding those tasks' values: every stored tile must still be the exact product.
    expect(buffers.snapshot().reused).toBeGreaterThan(K * K * K);
    await expectOutputsExact(fx.store, "job-pool", spec);
  });
});
