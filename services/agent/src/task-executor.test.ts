import {
  encodeTile,
  type MatmulJobSpec,
  outputKey,
  partialKey,
  tileFileBytes,
} from "@tessera/matrix";
import { describe, expect, it } from "vitest";
import {
  expectOutputsExact,
  runJob,
  useExecutorFixture,
  workItemFor,
} from "./executor.test-helpers.js";
import { InputTileCache } from "./input-cache.js";
import { KernelRunner } from "./kernel/kernel-runner.js";
import { KernelThreads } from "./kernel/kernel-threads.js";
import { executeWorkItem } from "./task-executor.js";
import { TileBufferPool } from "./tile-buffers.js";
import { readTile } from "./tile-store.js";

describe("maps that sum several inner tiles (kPerMap)", () => {
  // K = 4 tiles per side: kPerMap 2 leaves reduces of 2 partials, kPerMap 4 reduces of one.
  const base: MatmulJobSpec = { n: 128, tile: 32, mode: "exact", seed: 5 };
  const fx = useExecutorFixture();

  it.each([2, 4])("kPerMap %i: every output tile is the exact product", async (kPerMap) => {
    const spec = { ...base, kPerMap };
    const buffers = new TileBufferPool(16 * tileFileBytes(spec.tile, spec.tile));
    const ctx = { store: fx.store, runner: fx.runner, buffers, nodeId: "agent-test" };
    await runJob(`kpm-${kPerMap}`, spec, ctx);
    await expectOutputsExact(fx.store, `kpm-${kPerMap}`, spec);
  });

  it("a map's partial is the sum of its inner products (kPerMap 2, no buffer pool)", async () => {
    const ctx = { store: fx.store, runner: fx.runner, nodeId: "agent-test" };
    const spec = { ...base, kPerMap: 2 };
    const map = await executeWorkItem(workItemFor("kpm-part", spec, "map", 1, 2, 1), ctx);
    expect(map.completion.status).toBe("ok");
    for (const k of [2, 3])
      await executeWorkItem(workItemFor("kpm-one", base, "map", 1, 2, k), ctx);
    const grouped = await readTile(fx.store, partialKey("kpm-part", 1, 2, 1), base.tile);
    const p2 = await readTile(fx.store, partialKey("kpm-one", 1, 2, 2), base.tile);
    const p3 = await readTile(fx.store, partialKey("kpm-one", 1, 2, 3), base.tile);
    expect(Array.from(grouped)).toEqual(Array.from(p2, (x, idx) => x + (p3[idx] ?? 0)));
  });

  it("a reduce of one partial (kPerMap = K) stores the partial's bytes as they are, no Sum kernel, no rewrite", async () => {
    const spec = { ...base, kPerMap: 4 };
    const sums: number[] = [];
    const runner = Object.create(fx.runner, {
      sum: {
        value: (...args: Parameters<KernelRunner["sum"]>) => {
          sums.push(1);
          return fx.runner.sum(...args);
        },
      },
    }) as KernelRunner;
    // The output is the store's copy of the partial: no put of the tile's bytes by the agent.
    const writes: string[] = [];
    const store = Object.create(fx.store, {
      put: {
        value: (k: string, d: Uint8Array) => {
          writes.push(`put ${k}`);
          return fx.store.put(k, d);
        },
      },
      copy: {
        value: (...a: Parameters<typeof fx.store.copy>) => {
          writes.push(`copy ${a[0]} -> ${a[1]}`);
          return fx.store.copy(...a);
        },
      },
    }) as typeof fx.store;
    const ctx = { store, runner, nodeId: "agent-test" };
    await executeWorkItem(workItemFor("kpm-sole", spec, "map", 2, 1, 0), ctx);
    writes.length = 0;
    const reduce = await executeWorkItem(workItemFor("kpm-sole", spec, "reduce", 2, 1), ctx);
    expect(reduce.completion.status).toBe("ok");
    expect(sums).toEqual([]);
    expect(writes).toEqual([
      `copy ${partialKey("kpm-sole", 2, 1, 0)} -> ${outputKey("kpm-sole", 2, 1)}`,
    ]);
    const partial = await fx.store.head(partialKey("kpm-sole", 2, 1, 0));
    expect(reduce.completion.output).toMatchObject({
      key: outputKey("kpm-sole", 2, 1),
      checksum: partial?.checksum,
      bytes: partial?.bytes,
    });
    expect(await fx.store.get(outputKey("kpm-sole", 2, 1))).toEqual(
      await fx.store.get(partialKey("kpm-sole", 2, 1, 0)),
    );
  });

  it("a reduce of one partial refuses a partial that is not a tile of the job's shape", async () => {
    const spec = { ...base, kPerMap: 4 };
    const ctx = { store: fx.store, runner: fx.runner, nodeId: "agent-test" };
    // A well-stored object (the store's CRC holds) whose tile is 16×16, not 32×32: misfiled.
    await fx.store.put(
      partialKey("kpm-misfiled", 0, 0, 0),
      encodeTile(new Float32Array(256), { rows: 16, cols: 16, mode: "exact" }),
    );
    const reduce = await executeWorkItem(workItemFor("kpm-misfiled", spec, "reduce", 0, 0), ctx);
    expect(reduce.completion.status).toBe("failed");
    expect(reduce.completion.error?.code).toBe("TESSERA_E_TILE_SHAPE");
    expect(await fx.store.head(outputKey("kpm-misfiled", 0, 0))).toBeNull();
  });

  it("runs the packed product on a kernel thread with the same result", async () => {
    const own = await KernelRunner.create({ ep: "cpu", reduceFanIn: 2 });
    const threads = new KernelThreads(own, { threads: 1, inlineMaxTile: 16 });
    try {
      const spec = { ...base, kPerMap: 4 };
      await runJob("kpm-threads", spec, { store: fx.store, runner: threads, nodeId: "agent-test" });
      await expectOutputsExact(fx.store, "kpm-threads", spec);
    } finally {
      await threads.dispose();
    }
  });
});

describe("exact-mode maps in 8 bits", () => {
  // n = 2688: elements within ±78, the 8-bit kernel's range (small jobs keep float32).
  const spec: MatmulJobSpec = { n: 2688, tile: 1344, mode: "exact", seed: 9, kPerMap: 2 };
  const fx = useExecutorFixture();

  it("convert each input tile once into the cache and store the same bytes as float32 maps", async () => {
    const float = await KernelRunner.create({ ep: "cpu", int8: "off", reduceFanIn: 2 });
    const inputs = new InputTileCache(64 * 2 ** 20);
    try {
      expect(fx.runner.mapKernelFor(78)).toBe("int8");
      const ctx = { store: fx.store, runner: fx.runner, inputs, nodeId: "agent-test" };
      const kernels: (string | undefined)[] = [];
      for (const [i, j] of [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ] as const) {
        const m = await executeWorkItem(workItemFor("int8", spec, "map", i, j, 0), ctx);
        expect(m.completion.error).toBeUndefined();
        kernels.push(m.mapKernel);
        const f = { store: fx.store, runner: float, nodeId: "agent-test" };
        const r = await executeWorkItem(workItemFor("float32", spec, "map", i, j, 0), f);
        expect(r.mapKernel).toBe("float32");
        const [a, b] = await Promise.all(
          ["int8", "float32"].map((job) => fx.store.get(partialKey(job, i, j, 0))),
        );
        expect(Buffer.from(a as Uint8Array).equals(Buffer.from(b as Uint8Array))).toBe(true);
      }
      expect(kernels).toEqual(["int8", "int8", "int8", "int8"]);
      // 4 A and 4 B tiles, each kept once, as 1 byte per element; each used by two maps.
      expect(inputs.stats()).toMatchObject({ entries: 8, bytes: 8 * 1344 ** 2, misses: 8 });
    } finally {
      await float.dispose();
    }
  });
});

describe("an empty job's tasks (mode empty)", () => {
  const fx = useExecutorFixture();

  it("read, compute and store nothing, and report the empty output of their key", async () => {
    const spec: MatmulJobSpec = { n: 64, tile: 32, mode: "empty", seed: 5 };
    const touched: string[] = [];
    const store = new Proxy(fx.store, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        return (...a: unknown[]) => {
          touched.push(String(prop));
          return v.apply(target, a);
        };
      },
    });
    const ctx = { store, runner: fx.runner, nodeId: "agent-test" };
    const map = await executeWorkItem(workItemFor("e", spec, "map", 1, 0, 1), ctx);
    const reduce = await executeWorkItem(workItemFor("e", spec, "reduce", 1, 0), ctx);
    expect(map.completion).toMatchObject({
      status: "ok",
      output: {
        uri: `empty:${partialKey("e", 1, 0, 1)}`,
        key: partialKey("e", 1, 0, 1),
        checksum: "00000000",
        bytes: 0,
      },
    });
    expect(reduce.completion.output).toMatchObject({
      uri: `empty:${outputKey("e", 1, 0)}`,
      bytes: 0,
    });
    expect(touched).toEqual([]);
  });
});
