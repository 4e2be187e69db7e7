import { execFile } from "node:child_process";
import { basename } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { AgentErrorCode } from "../errors.js";
import { exactProduct, exactTiles } from "./exact-tiles.test-helpers.js";
import { INT8_MAX_EXACT_BOUND, int8OperandA, int8OperandB } from "./int8-operands.js";
import {
  KernelRunner,
  type KernelTiming,
  missingCudaProviderLibraries,
  probeCuda,
} from "./kernel-runner.js";

const execFileAsync = promisify(execFile);
/** The compiled module, as a started agent loads it. */
const DIST_RUNNER = new URL("../../dist/kernel/kernel-runner.js", import.meta.url);

describe("KernelRunner (CPU)", () => {
  const runners: KernelRunner[] = [];
  afterAll(async () => {
    for (const r of runners) await r.dispose();
  });
  const cpu = async (fanIn?: number) => {
    const r = await KernelRunner.create({
      ep: "cpu",
      intraOpThreads: 1,
      ...(fanIn ? { reduceFanIn: fanIn } : {}),
    });
    runners.push(r);
    return r;
  };

  it.each(["Gemm", "MatMul"] as const)(
    "%s computes A·B exactly (row-major, not transposed)",
    async (op) => {
      const t = 48;
      const a = Float32Array.from({ length: t * t }, (_, x) => ((x * 7) % 17) - 8);
      const b = Float32Array.from({ length: t * t }, (_, x) => ((x * 5) % 13) - 6);
      const runner = await KernelRunner.create({ ep: "cpu", gemmOp: op });
      runners.push(runner);
      const c = await runner.matmul(a, b, t);
      expect(Array.from(c)).toEqual(Array.from(exactProduct([a], [b], t)));
      expect(runner.executionProvider).toBe("cpu");
    },
  );

  it("sums partials in the fixed order ((p0+p1)+p2)+… even when folded past the fan-in", async () => {
    // In float32 (1e8 + -1e8) + 1 = 1 but 1e8 + (-1e8 + 1) = 0, so any other order shows.
    const t = 16;
    const fill = (v: number) => new Float32Array(t * t).fill(v);
    const partials = [fill(1e8), fill(-1e8), fill(1), fill(0.5)];
    for (const fanIn of [2, 3, 16]) {
      const s = await (await cpu(fanIn)).sum(partials, t);
      expect(s[0], `fan-in ${fanIn}`).toBe(1.5);
      expect(s.every((v) => v === 1.5)).toBe(true);
      // Into a caller's buffer (the agent passes the payload of the tile file it will store).
      const out = new Float32Array(t * t);
      expect(await (await cpu(fanIn)).sum(partials, t, out)).toBe(out);
      expect(out.every((v) => v === 1.5)).toBe(true);
    }
    const single = await (await cpu()).sum([fill(3)], t);
    expect(single[5]).toBe(3);
  });

  it("computes exact-mode maps in 8-bit integers where the bound allows, equal to the exact product", async () => {
    const runner = await cpu();
    // x86-64 and arm64 ORT builds have an exact 8-bit GEMM; the start-up check found it so.
    expect(runner.int8Unavailable).toBeUndefined();
    expect(runner.int8MaxBound).toBe(INT8_MAX_EXACT_BOUND);
    expect(runner.mapKernelFor(45)).toBe("int8");
    expect(runner.mapKernelFor(INT8_MAX_EXACT_BOUND)).toBe("int8");
    expect(runner.mapKernelFor(INT8_MAX_EXACT_BOUND + 1)).toBe("float32");
    expect(runner.mapKernelFor(undefined)).toBe("float32");
    const t = 40;
    for (const d of [1, 3]) {
      const { as, bs } = exactTiles(d, t, INT8_MAX_EXACT_BOUND, d);
      const timing: KernelTiming = { waitMs: 0 };
      const out = new Float32Array(t * t);
      const [as8, bs8] = [as.map(int8OperandA), bs.map(int8OperandB)];
      await runner.matmulInnerInt8(as8, bs8, t, out, timing);
      expect(timing.kernel, `d = ${d}`).toBe("int8");
      expect(Array.from(out), `d = ${d}`).toEqual(Array.from(exactProduct(as, bs, t)));
      // The float32 GEMM gives the same bits (exact too), and says so.
      const float: KernelTiming = { waitMs: 0 };
      const f = await runner.matmulInner(as, bs, t, undefined, float);
      expect(float.kernel).toBe("float32");
      expect(Array.from(f)).toEqual(Array.from(out));
    }
  });

  it("with int8 off, every map is float32 and the runner says why", async () => {
    const runner = await KernelRunner.create({ ep: "cpu", int8: "off" });
    runners.push(runner);
    expect(runner.int8MaxBound).toBe(0);
    expect(runner.int8Unavailable).toBe("turned off");
    expect(runner.mapKernelFor(45)).toBe("float32");
  });

  it("rejects 8-bit operands whose size does not match the shape, naming the type", async () => {
    const runner = await cpu();
    await expect(
      runner.bindMatmulInt8(new Uint8Array(16), new Int8Array(15), 4),
    ).rejects.toMatchObject({
      code: AgentErrorCode.TileShape,
      message: "B: expected 16 int8 elements, got 15",
    });
    await expect(
      runner.matmulInnerInt8([new Uint8Array(16)], [new Int8Array(9)], 4),
    ).rejects.toMatchObject({
      code: AgentErrorCode.TileShape,
      message: "B[0]: expected 16 8-bit elements, got 9",
    });
  });

  it("rejects tiles whose size does not match the shape with a typed error", async () => {
    const runner = await cpu();
    await expect(
      runner.matmul(new Float32Array(15), new Float32Array(16), 4),
    ).rejects.toMatchObject({
      code: AgentErrorCode.TileShape,
      message: expect.stringContaining("A: expected 16"),
    });
    await expect(runner.sum([], 4)).rejects.toMatchObject({ code: AgentErrorCode.TileShape });
  });

  it("--ep cuda fails clearly when the CUDA provider cannot load; auto falls back and says why", async () => {
    const probe = await probeCuda();
    if (probe.ok) {
      const r = await KernelRunner.create({ ep: "cuda" });
      runners.push(r);
      expect(r.executionProvider).toBe("cuda");
      return;
    }
    await expect(KernelRunner.create({ ep: "cuda" })).rejects.toMatchObject({
      code: AgentErrorCode.CudaUnavailable,
      message: expect.stringContaining("--ep cuda"),
    });
    const auto = await KernelRunner.create({ ep: "auto" });
    runners.push(auto);
    expect(auto.executionProvider).toBe("cpu");
    expect(auto.fallbackReason).toBeTruthy();
  });

  it("without the CUDA provider files, says which are missing and ORT prints no error", async () => {
    const missing = missingCudaProviderLibraries();
    if (missing.length === 0) return; // a CUDA-enabled install: the probe above loaded or tried it
    // A fresh process, as an agent starts: ORT's own stderr is what an operator would see.
    const probe = `import { probeCuda } from ${JSON.stringify(DIST_RUNNER.href)};
      console.log(JSON.stringify(await probeCuda()));`;
    const { stdout, stderr } = await execFileAsync(process.execPath, [
      "--input-type=module",
      "-e",
      probe,
    ]);
    const result = JSON.parse(stdout) as { ok: boolean; reason: string };
    expect(result.ok).toBe(false);
    expect(result.reason).toContain("the CUDA provider is not installed");
    for (const path of missing) expect(result.reason).toContain(basename(path));
    expect(stderr).not.toMatch(/onnxruntime/i);
  });
});
