// KernelThreads runs the built worker (dist/kernel/kernel-worker.js): `npm test` builds first.
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import type { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { AgentError, AgentErrorCode } from "../errors.js";
import { exactProduct, exactTiles } from "./exact-tiles.test-helpers.js";
import { INT8_MAX_EXACT_BOUND, int8OperandA, int8OperandB } from "./int8-operands.js";
import { KernelRunner, type KernelTiming } from "./kernel-runner.js";
import { KernelThreads } from "./kernel-threads.js";

const tileOf = (t: number, seed: number) =>
  Float32Array.from({ length: t * t }, (_, x) => ((x * seed) % 23) - 11);

describe("KernelThreads", () => {
  const open: KernelThreads[] = [];
  afterAll(async () => {
    for (const k of open) await k.dispose();
  });
  // inlineMaxTile 0: every GEMM goes to a thread, however small.
  const threads = async (n: number) => {
    const k = new KernelThreads(await KernelRunner.create({ ep: "cpu", intraOpThreads: 1 }), {
      threads: n,
      inlineMaxTile: 0,
    });
    open.push(k);
    return k;
  };

  it("computes the same bytes as the JS-thread runner, across tile sizes and reused buffers", async () => {
    const reference = await KernelRunner.create({ ep: "cpu", intraOpThreads: 1 });
    const k = await threads(1);
    expect(k.executionProvider).toBe("cpu");
    expect(k.reduceFanIn).toBe(reference.reduceFanIn);
    try {
      // Big, small (staging buffers larger than needed), big again: stale bytes must not leak.
      for (const [t, seed] of [
        [64, 7],
        [16, 5],
        [64, 3],
      ] as const) {
        const a = tileOf(t, seed);
        const b = tileOf(t, seed + 4);
        const want = await reference.matmul(a, b, t);
        const out = new Float32Array(t * t).fill(Number.NaN);
        expect(await k.matmul(a, b, t, out)).toBe(out);
        expect(Array.from(out)).toEqual(Array.from(want));
        // Inputs are read, never moved: the caller's (cached) tiles stay usable.
        expect(a.length).toBe(t * t);
        expect(Array.from(await k.matmul(a, b, t))).toEqual(Array.from(want));
      }
      // Default options: a 64² GEMM runs on the JS thread, with the same bytes.
      const inline = new KernelThreads(await KernelRunner.create({ ep: "cpu" }), { threads: 1 });
      open.push(inline);
      const [a, b] = [tileOf(64, 2), tileOf(64, 6)];
      expect(Array.from(await inline.matmul(a, b, 64))).toEqual(
        Array.from(await reference.matmul(a, b, 64)),
      );
      const parts = [tileOf(16, 2), tileOf(16, 9), tileOf(16, 4)];
      expect(Array.from(await k.sum(parts, 16))).toEqual(
        Array.from(await reference.sum(parts, 16)),
      );
    } finally {
      await reference.dispose();
    }
  });

  it("sums inner products (matmulInner) with the JS-thread runner's bits, and equal to A·B for one pair", async () => {
    const reference = await KernelRunner.create({ ep: "cpu", intraOpThreads: 1 });
    const k = await threads(1);
    // Non-integer values: float rounding depends on the algorithm, so equality means the same GEMM.
    const real = (t: number, seed: number) =>
      Float32Array.from({ length: t * t }, (_, x) => Math.sin(x * seed) * 0.7);
    try {
      for (const d of [3, 1, 2]) {
        const as = Array.from({ length: d }, (_, x) => real(32, x + 1));
        const bs = Array.from({ length: d }, (_, x) => real(32, x + 11));
        const want = await reference.matmulInner(as, bs, 32);
        const out = new Float32Array(32 * 32).fill(Number.NaN);
        await k.matmulInner(as, bs, 32, out);
        expect(Array.from(out)).toEqual(Array.from(want));
        if (d === 1) {
          expect(Array.from(want)).toEqual(
            Array.from(await reference.matmul(as[0] as Float32Array, bs[0] as Float32Array, 32)),
          );
        }
      }
      // Integers: exact, so the packed GEMM must equal the sum of the separate products.
      const as = [tileOf(32, 3), tileOf(32, 5)];
      const bs = [tileOf(32, 7), tileOf(32, 2)];
      const p0 = await reference.matmul(as[0] as Float32Array, bs[0] as Float32Array, 32);
      const p1 = await reference.matmul(as[1] as Float32Array, bs[1] as Float32Array, 32);
      expect(Array.from(await k.matmulInner(as, bs, 32))).toEqual(
        Array.from(p0, (x, i) => x + (p1[i] ?? 0)),
      );
      await expect(k.matmulInner(as, [tileOf(32, 1)], 32)).rejects.toThrow(
        "map: needs as many A tiles as B tiles, at least one (got 2 and 1)",
      );
      await expect(k.matmulInner(as, [bs[0] as Float32Array, tileOf(16, 1)], 32)).rejects.toThrow(
        "B[1]: expected 1024 float32 elements, got 256",
      );
    } finally {
      await reference.dispose();
    }
  });

  it("runs exact-mode maps as 8-bit GEMMs on the thread, mixed with float32 ones in the same staging sets", async () => {
    const k = await threads(1);
    const m = INT8_MAX_EXACT_BOUND;
    expect(k.mapKernelFor(m)).toBe("int8");
    // 8-bit first (a staging set of 1-byte operands), then float32 (outgrows it), then 8-bit in
    // the float-sized set, with an odd tile so no operand is a whole number of words.
    const cases = [
      { t: 33, d: 2, bound: m as number | undefined },
      { t: 33, d: 2, bound: undefined },
      { t: 33, d: 3, bound: m },
      { t: 17, d: 1, bound: 45 },
    ];
    for (const [i, c] of cases.entries()) {
      const { as, bs } = exactTiles(c.d, c.t, m, i + 1);
      const timing: KernelTiming = { waitMs: 0 };
      const out = new Float32Array(c.t * c.t).fill(Number.NaN);
      if (k.mapKernelFor(c.bound) === "int8") {
        await k.matmulInnerInt8(as.map(int8OperandA), bs.map(int8OperandB), c.t, out, timing);
      } else {
        await k.matmulInner(as, bs, c.t, out, timing);
      }
      expect(timing.kernel, `case ${i}`).toBe(c.bound === undefined ? "float32" : "int8");
      expect(timing.kernelMs, `case ${i}`).toBeGreaterThan(0);
      expect(Array.from(out), `case ${i}`).toEqual(Array.from(exactProduct(as, bs, c.t)));
    }
  });

  it("packs a waiting GEMM's operands in its own staging set while the thread runs another", async () => {
    const reference = await KernelRunner.create({ ep: "cpu", intraOpThreads: 1 });
    const k = await threads(1);
    try {
      // Three callers on one thread, two sizes (a set outgrown and replaced on the way): each
      // product is its own, whatever ran when.
      const cases = [
        { t: 32, seed: 3 },
        { t: 32, seed: 11 },
        { t: 64, seed: 5 },
      ];
      const inputs = cases.map(({ t, seed }) => ({
        t,
        as: [tileOf(t, seed), tileOf(t, seed + 1)],
        bs: [tileOf(t, seed + 2), tileOf(t, seed + 3)],
      }));
      for (let round = 0; round < 2; round++) {
        const got = await Promise.all(inputs.map((c) => k.matmulInner(c.as, c.bs, c.t)));
        for (const [i, c] of inputs.entries()) {
          const want = await reference.matmulInner(c.as, c.bs, c.t);
          expect(Array.from(got[i] as Float32Array), `case ${i}, round ${round}`).toEqual(
            Array.from(want),
          );
        }
      }
    } finally {
      await reference.dispose();
    }
  });

  it("moves no operand memory per kernel, so large maps start no full garbage collection", async () => {
    // V8 starts a mark-compact when an isolate gains more than 64 MiB of external memory since
    // its last one; operands handed over by transfer re-entered the agent's isolate after every
    // kernel (here 80 MiB), i.e. one full collection of the agent's heap per map.
    const k = await threads(1);
    const t = 512;
    const d = 40; // A [512, 20480] and B [20480, 512]: 40 MiB each
    const as = Array.from({ length: d }, (_, x) => tileOf(t, x + 2));
    const bs = Array.from({ length: d }, (_, x) => tileOf(t, x + 5));
    const out = new Float32Array(t * t);
    await k.matmulInner(as, bs, t, out); // staging buffers made and sent
    const first = Array.from(out.subarray(0, 64));
    let majors = 0;
    const gc = new PerformanceObserver((list) => {
      // Node puts the GC kind in `detail`, which its typings leave out.
      for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
        if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
      }
    });
    gc.observe({ entryTypes: ["gc"] });
    try {
      for (let i = 0; i < 5; i++) await k.matmulInner(as, bs, t, out);
      await new Promise((r) => setTimeout(r, 50)); // a collection started late still reports
    } finally {
      gc.disconnect();
    }
    expect(Array.from(out.subarray(0, 64))).toEqual(first);
    expect(majors).toBeLessThanOrEqual(1);
  });

  it("leaves the event loop free while a kernel runs", async () => {
    const k = await threads(1);
    const t = 1024; // 2 GFLOP: tens of milliseconds on one core
    const a = tileOf(t, 3);
    const b = tileOf(t, 5);
    await k.matmul(a, b, t); // session built
    let done = false;
    const kernel = k.matmul(a, b, t).then(() => {
      done = true;
    });
    // On the JS thread, onnxruntime-node's run blocks this turn until the product is ready.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    await kernel;
    expect(done).toBe(true);
  });

  it("queues kernels beyond its threads and reports the wait apart from compute", async () => {
    const k = await threads(1);
    const t = 256;
    const inputs = [3, 5, 7].map((s) => [tileOf(t, s), tileOf(t, s + 2)] as const);
    const timings: KernelTiming[] = inputs.map(() => ({ waitMs: 0 }));
    const results = await Promise.all(
      inputs.map(([a, b], i) => k.matmul(a, b, t, undefined, timings[i])),
    );
    const reference = await KernelRunner.create({ ep: "cpu" });
    try {
      for (const [i, [a, b]] of inputs.entries()) {
        expect(Array.from(results[i] as Float32Array)).toEqual(
          Array.from(await reference.matmul(a, b, t)),
        );
      }
    } finally {
      await reference.dispose();
    }
    // One thread: the second and third waited for the ones before them.
    expect(timings[0]?.waitMs).toBeLessThan(timings[2]?.waitMs as number);
    expect(timings[2]?.waitMs).toBeGreaterThan(0);
    // The kernel's own time on the thread is reported too (the executor's computeMs).
    for (const t of timings) expect(t.kernelMs).toBeGreaterThan(0);
  });

  it("fails a kernel whose thread dies with a kernel error, and carries on with a new thread", async () => {
    const k = await threads(1);
    const t = 512;
    const a = tileOf(t, 3);
    const b = tileOf(t, 5);
    const want = await k.matmul(a, b, t);
    const pending = k.matmul(a, b, t);
    const inner = k as unknown as { threads: { worker: Worker }[] };
    await inner.threads[0]?.worker.terminate();
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe(AgentErrorCode.Kernel);
    expect((err as AgentError).message).toMatch(/kernel thread stopped/);
    expect(k.size).toBe(1);
    expect(Array.from(await k.matmul(a, b, t))).toEqual(Array.from(want));
  });

  it("stops replacing threads that die before any kernel, and fails kernels with the reason", async () => {
    const k = new KernelThreads(await KernelRunner.create({ ep: "cpu" }), {
      threads: 1,
      inlineMaxTile: 0,
      workerUrl: new URL("./no-such-kernel-worker.js", import.meta.url),
    });
    open.push(k);
    // Each call meets a thread that dies (the kernel fails), until the pool gives up on them.
    const errors: AgentError[] = [];
    for (let i = 0; i < 5 && k.size > 0; i++) {
      const err = await k.matmul(tileOf(16, 3), tileOf(16, 5), 16).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentError);
      errors.push(err as AgentError);
    }
    expect(errors.every((e) => e.code === AgentErrorCode.Kernel)).toBe(true);
    expect(errors[0]?.message).toMatch(
      /kernel thread stopped during a kernel \(.*no-such-kernel-worker/,
    );
    expect(k.size).toBe(0);
    // Later calls fail at once, with the reason, instead of waiting for a thread.
    await expect(k.matmul(tileOf(16, 3), tileOf(16, 5), 16)).rejects.toMatchObject({
      code: AgentErrorCode.Kernel,
      message: expect.stringMatching(/kernel threads keep stopping before any kernel ran/),
    });
  });

  it("rejects bad shapes before any thread sees them, and every call after dispose", async () => {
    const k = await threads(2);
    await expect(k.matmul(new Float32Array(10), new Float32Array(16), 4)).rejects.toMatchObject({
      code: AgentErrorCode.TileShape,
      message: expect.stringMatching(/^A: expected 16 float32 elements, got 10/),
    });
    const t = 256;
    const a = tileOf(t, 3);
    // Two threads busy, a third call queued: dispose fails it instead of leaving it hanging.
    const calls = [1, 2, 3].map(() => k.matmul(a, a, t).catch((e: unknown) => e));
    await k.dispose();
    const outcomes = await Promise.all(calls);
    // The queued call never ran; the running ones were abandoned (or had just finished).
    expect(outcomes[2]).toMatchObject({ code: AgentErrorCode.Draining });
    await expect(k.matmul(a, a, t)).rejects.toMatchObject({ code: AgentErrorCode.Kernel });
  });

  it("refuses a thread count that is not a positive integer, naming it", async () => {
    const runner = await KernelRunner.create({ ep: "cpu" });
    try {
      expect(() => new KernelThreads(runner, { threads: 0 })).toThrow(
        /kernel threads: must be an integer ≥ 1/,
      );
    } finally {
      await runner.dispose();
    }
  });
});
