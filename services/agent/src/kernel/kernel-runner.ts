// Runs the Map (GEMM) and Reduce (fixed-order sum) tile kernels through onnxruntime-node.
// Sessions are created from in-memory model bytes and cached per (kind, tile, fan-in), so a
// long-running agent pays session creation once per shape.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { AgentError, AgentErrorCode } from "../errors.js";
import { INT8_MAX_EXACT_BOUND, type MapKernel } from "./int8-operands.js";
import {
  buildMatMulInt8Model,
  buildMatMulModel,
  buildReduceModel,
  type GemmOp,
  INT8_A_ZERO_POINT,
  reduceInputNames,
} from "./onnx-graphs.js";
import { disableOrtTelemetryUnlessAllowed } from "./ort-telemetry.js";
import { packSideBySide, packStacked } from "./pack-inner.js";

export type ExecutionProviderChoice = "auto" | "cuda" | "cpu";
export type ExecutionProvider = "cpu" | "cuda";

export interface KernelRunnerOptions {
  /** auto: CUDA when its provider loads, CPU otherwise. cuda: CUDA or fail. cpu: CPU only. */
  ep: ExecutionProviderChoice;
  /** ONNX Runtime intra-op threads per session (default 1: one thread per agent slot). */
  intraOpThreads?: number;
  /**
   * Which ONNX op computes the Map product (default MatMul). Both reach the same MLAS SGEMM on
   * CPU; `pnpm bench kernel --ops MatMul,Gemm` measured no consistent difference between them.
   */
  gemmOp?: GemmOp;
  /**
   * Let ORT's intra-op pool spin while waiting for work. Off by default: spinning burns a core
   * between kernels, which an agent sharing its cores with I/O and other slots cannot afford.
   */
  allowSpinning?: boolean;
  /** Largest number of partials one Reduce session adds; more are folded through it in order. */
  reduceFanIn?: number;
  /**
   * auto (default): exact-mode maps whose element bound allows it run the 8-bit integer GEMM
   * (int8-operands.ts), once a start-up check on this CPU found it exact; off: always float32.
   * CUDA runners always use float32.
   */
  int8?: "auto" | "off";
}

export interface CudaProbe {
  ok: boolean;
  /** Why CUDA could not be used (present when ok is false). */
  reason?: string;
}

const DEFAULT_REDUCE_FAN_IN = 16;

/**
 * Tries to create a session that may run ONLY on CUDA: no CPU provider in the list and ORT's
 * CPU fallback disabled, so success means the MatMul node really was placed on the GPU. A list
 * like ['cuda', 'cpu'] can silently end up on CPU and would make the report a lie.
 */
export function probeCuda(): Promise<CudaProbe> {
  // Whether the provider library loads cannot change within a process, so probe once.
  cudaProbe ??= runCudaProbe();
  return cudaProbe;
}

let cudaProbe: Promise<CudaProbe> | undefined;

async function runCudaProbe(): Promise<CudaProbe> {
  disableOrtTelemetryUnlessAllowed();
  const missing = missingCudaProviderLibraries();
  if (missing.length > 0) {
    return {
      ok: false,
      reason: `the CUDA provider is not installed (no ${missing.map((p) => basename(p)).join(" or ")} in ${dirname(missing[0] ?? "")}: onnxruntime-node's install script downloads it only where it can, and ONNXRUNTIME_NODE_INSTALL=skip skips it)`,
    };
  }
  try {
    const session = await ort.InferenceSession.create(buildMatMulModel(16), {
      executionProviders: ["cuda"],
      // Fatal only: the expected "library not found" on CPU-only nodes is reported by us instead.
      logSeverityLevel: 4,
      extra: { session: { disable_cpu_ep_fallback: "1" } },
    });
    await session.release();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * ORT loads its CUDA provider from the directory of its own library, where onnxruntime-node's
 * install script puts it when it downloaded the CUDA build. Where those files are absent the probe
 * cannot succeed, and trying anyway makes ORT print an error line to stderr at every start of a
 * CPU agent (its provider bridge logs before any session option applies): name what is missing
 * instead. Only on Linux, where the file names are known; elsewhere, and when the package's layout
 * is not the expected one, the probe just runs.
 */
export function missingCudaProviderLibraries(): string[] {
  if (process.platform !== "linux") return [];
  let dir: string;
  try {
    const pkg = dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
    dir = join(pkg, "bin", "napi-v6", process.platform, process.arch);
  } catch {
    return [];
  }
  if (!existsSync(join(dir, "onnxruntime_binding.node"))) return [];
  return ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"]
    .map((name) => join(dir, name))
    .filter((path) => !existsSync(path));
}

/** Filled in by a kernel call for its caller's timings. */
export interface KernelTiming {
  /** Time spent queueing for a free kernel thread (added to, never reset). */
  waitMs: number;
  /**
   * Set when the kernel ran on another thread: its run time there, without the queueing, the
   * tile copies and the trip between threads that the call's own duration includes.
   */
  kernelMs?: number;
  /** Set by a map call: which GEMM computed it. */
  kernel?: MapKernel;
}

/**
 * What a task needs from its kernels. KernelRunner runs them on the calling thread;
 * KernelThreads (kernel-threads.ts) runs the Map products on worker threads.
 */
export interface TileKernels {
  readonly executionProvider: ExecutionProvider;
  /** Partials one Reduce kernel call adds (the executor reads them a chunk this size at a time). */
  readonly reduceFanIn: number;
  /**
   * A·B for row-major float32 [tile, tile] tiles, into `out` when given. `timing` receives the
   * time spent queueing for a thread and, off the JS thread, the kernel's own run time.
   */
  matmul(
    a: Float32Array,
    b: Float32Array,
    tile: number,
    out?: Float32Array,
    timing?: KernelTiming,
  ): Promise<Float32Array>;
  /**
   * Σ_x A_x·B_x over paired [tile, tile] tiles (a map of several inner tiles), computed as ONE
   * GEMM over the inner dimension (pack-inner.ts), into `out` when given. With one pair it is
   * `matmul`. Every implementation runs the same packed GEMM, so float results agree bit for bit.
   */
  matmulInner(
    as: readonly Float32Array[],
    bs: readonly Float32Array[],
    tile: number,
    out?: Float32Array,
    timing?: KernelTiming,
  ): Promise<Float32Array>;
  /**
   * The map GEMM for tiles of integers within ±exactBound (an exact-mode job; undefined: not
   * exact mode): "int8" where `matmulInnerInt8` computes them exactly, else "float32".
   */
  mapKernelFor(exactBound: number | undefined): MapKernel;
  /**
   * `matmulInner` in 8-bit integers, for tiles already in the kernel's operand form
   * (int8-operands.ts: A as uint8 a + 128, B as int8) with elements within ±int8MaxBound:
   * the exact product, as float32, into `out` when given.
   */
  matmulInnerInt8(
    as: readonly Uint8Array[],
    bs: readonly Int8Array[],
    tile: number,
    out?: Float32Array,
    timing?: KernelTiming,
  ): Promise<Float32Array>;
  /** ((p0 + p1) + p2) + … in exactly this order, into `out` when given. */
  sum(partials: readonly Float32Array[], tile: number, out?: Float32Array): Promise<Float32Array>;
  dispose(): Promise<void>;
}

type SessionKind = "map" | "map-int8" | "reduce";

/** One prepared kernel call; `run` may be called repeatedly and overwrites `output` each time. */
export interface BoundKernel {
  readonly output: Float32Array;
  run(): Promise<Float32Array>;
}

export class KernelRunner implements TileKernels {
  readonly executionProvider: ExecutionProvider;
  /** Why CUDA was not used, when `auto` fell back to CPU. */
  readonly fallbackReason: string | undefined;
  readonly intraOpThreads: number;
  readonly gemmOp: GemmOp;
  readonly reduceFanIn: number;
  private readonly allowSpinning: boolean;
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  private int8State: { maxBound: number; unavailable: string | undefined } = {
    maxBound: 0,
    unavailable: "not checked",
  };

  private constructor(
    provider: ExecutionProvider,
    fallbackReason: string | undefined,
    opts: KernelRunnerOptions,
  ) {
    this.executionProvider = provider;
    this.fallbackReason = fallbackReason;
    this.intraOpThreads = opts.intraOpThreads ?? 1;
    this.gemmOp = opts.gemmOp ?? "MatMul";
    this.allowSpinning = opts.allowSpinning ?? false;
    this.reduceFanIn = opts.reduceFanIn ?? DEFAULT_REDUCE_FAN_IN;
    if (!Number.isInteger(this.intraOpThreads) || this.intraOpThreads < 1) {
      throw new AgentError(
        AgentErrorCode.Config,
        `intraOpThreads: must be an integer ≥ 1, got ${this.intraOpThreads}`,
      );
    }
    if (!Number.isInteger(this.reduceFanIn) || this.reduceFanIn < 2) {
      throw new AgentError(
        AgentErrorCode.Config,
        `reduceFanIn: must be an integer ≥ 2, got ${this.reduceFanIn}`,
      );
    }
  }

  /** Resolves the execution provider (probing CUDA unless `cpu`) and returns a ready runner. */
  static async create(opts: KernelRunnerOptions): Promise<KernelRunner> {
    // Here, on the creating thread, before any kernel thread exists: a worker thread's
    // process.env is its own copy, and ONNX Runtime reads the real environment.
    disableOrtTelemetryUnlessAllowed();
    if (opts.ep === "cpu") return KernelRunner.onCpu(undefined, opts);
    const probe = await probeCuda();
    if (probe.ok) {
      const runner = new KernelRunner("cuda", undefined, opts);
      runner.int8State = { maxBound: 0, unavailable: "the CUDA runner computes in float32" };
      return runner;
    }
    if (opts.ep === "cuda") {
      throw new AgentError(
        AgentErrorCode.CudaUnavailable,
        `--ep cuda: the CUDA execution provider could not be loaded (${probe.reason}); ` +
          "install onnxruntime-node with its CUDA binaries (run its install script with CUDA 12 libraries present) or use --ep auto|cpu",
      );
    }
    return KernelRunner.onCpu(probe.reason, opts);
  }

  private static async onCpu(
    fallbackReason: string | undefined,
    opts: KernelRunnerOptions,
  ): Promise<KernelRunner> {
    const runner = new KernelRunner("cpu", fallbackReason, opts);
    if (opts.int8 === "off") {
      runner.int8State = { maxBound: 0, unavailable: "turned off" };
      return runner;
    }
    const unavailable = await runner.checkInt8();
    runner.int8State = { maxBound: unavailable ? 0 : INT8_MAX_EXACT_BOUND, unavailable };
    return runner;
  }

  /**
   * Runs the 8-bit GEMM once on operands at the edges of its exact range (whole rows and columns
   * of ±INT8_MAX_EXACT_BOUND, where an int16 pair sum would saturate first, plus a spread of
   * values) and compares every element with the exact product. Undefined when it matched; else
   * why the 8-bit kernel will not be used (ORT without MatMulInteger, a kernel that saturates).
   */
  private async checkInt8(): Promise<string | undefined> {
    const tile = 32;
    const inner = 512;
    const m = INT8_MAX_EXACT_BOUND;
    const a = new Int32Array(tile * inner);
    const b = new Int32Array(inner * tile);
    let seed = 0x9e3779b9;
    const spread = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return ((seed >>> 8) % (2 * m + 1)) - m;
    };
    for (let r = 0; r < tile; r++) {
      for (let x = 0; x < inner; x++) {
        a[r * inner + x] = r === 0 ? m : r === 1 ? -m : r === 2 ? (x % 2 ? m : -m) : spread();
        b[x * tile + r] = r === 0 ? m : r === 1 ? -m : r === 2 ? (x % 2 ? -m : m) : spread();
      }
    }
    const a8 = Uint8Array.from(a, (v) => v + INT8_A_ZERO_POINT);
    const b8 = Int8Array.from(b);
    try {
      const c = await (await this.bindMatmulInt8(a8, b8, tile, undefined, inner)).run();
      for (let r = 0; r < tile; r++) {
        for (let col = 0; col < tile; col++) {
          let want = 0;
          for (let x = 0; x < inner; x++)
            want += (a[r * inner + x] as number) * (b[x * tile + col] as number);
          const got = c[r * tile + col];
          if (got !== want) {
            return `the 8-bit GEMM is not exact on this CPU (element (${r}, ${col}): ${got}, exactly ${want})`;
          }
        }
      }
      return undefined;
    } catch (err) {
      return `the 8-bit GEMM does not run here: ${messageOf(err)}`;
    }
  }

  /** The largest exact-mode element bound the 8-bit kernel serves (0: it is not used). */
  get int8MaxBound(): number {
    return this.int8State.maxBound;
  }

  /** Why the 8-bit kernel is not used (undefined when it is available). */
  get int8Unavailable(): string | undefined {
    return this.int8State.unavailable;
  }

  mapKernelFor(exactBound: number | undefined): MapKernel {
    return exactBound !== undefined && exactBound >= 0 && exactBound <= this.int8State.maxBound
      ? "int8"
      : "float32";
  }

  /**
   * Creates (or returns the cached) session for a kernel shape; exposed so benches can time it.
   * `fanIn`: a reduce's inputs; `inner`: a map's inner dimension (tile, or d·tile for d pairs).
   */
  session(kind: SessionKind, tile: number, fanIn = 2, inner = tile): Promise<ort.InferenceSession> {
    const shape = `${tile}${inner === tile ? "" : `x${inner}`}`;
    const key =
      kind === "map"
        ? `map/${this.gemmOp}/${shape}`
        : kind === "map-int8"
          ? `map/int8/${shape}`
          : `reduce/${tile}/${fanIn}`;
    let pending = this.sessions.get(key);
    if (!pending) {
      const model =
        kind === "map"
          ? buildMatMulModel(tile, this.gemmOp, inner)
          : kind === "map-int8"
            ? buildMatMulInt8Model(tile, inner)
            : buildReduceModel(tile, fanIn);
      pending = ort.InferenceSession.create(model, this.sessionOptions()).catch((err: unknown) => {
        this.sessions.delete(key);
        throw new AgentError(
          AgentErrorCode.Kernel,
          `creating the ${key} session failed: ${messageOf(err)}`,
          {
            cause: err,
          },
        );
      });
      this.sessions.set(key, pending);
    }
    return pending;
  }

  private sessionOptions(): ort.InferenceSession.SessionOptions {
    return {
      executionProviders: this.executionProvider === "cuda" ? ["cuda"] : ["cpu"],
      intraOpNumThreads: this.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: "all",
      enableCpuMemArena: true,
      enableMemPattern: true,
      extra: {
        session: {
          intra_op: { allow_spinning: this.allowSpinning ? "1" : "0" },
          inter_op: { allow_spinning: "0" },
          // A CUDA session must not quietly run nodes on CPU: the reported provider must be true.
          ...(this.executionProvider === "cuda" ? { disable_cpu_ep_fallback: "1" } : {}),
        },
      },
    };
  }

  /**
   * Map kernel: returns A·B for row-major float32 [tile, tile] tiles. `out`, when given, receives
   * the product (saves an allocation per call in a hot loop).
   */
  async matmul(
    a: Float32Array,
    b: Float32Array,
    tile: number,
    out?: Float32Array,
  ): Promise<Float32Array> {
    const bound = await this.bindMatmul(a, b, tile, out);
    return bound.run();
  }

  async matmulInner(
    as: readonly Float32Array[],
    bs: readonly Float32Array[],
    tile: number,
    out?: Float32Array,
    timing?: KernelTiming,
  ): Promise<Float32Array> {
    const d = checkPairs(as, bs, tile);
    if (timing) timing.kernel = "float32";
    if (d === 1) return this.matmul(as[0] as Float32Array, bs[0] as Float32Array, tile, out);
    const bound = await this.bindMatmul(
      packSideBySide(as, tile),
      packStacked(bs, tile),
      tile,
      out,
      d * tile,
    );
    return bound.run();
  }

  /**
   * Prepares one Map call: session looked up (or created) and the input/output tensors wrapped
   * around the caller's buffers. Separate from `run` so set-up cost can be measured and a caller
   * that reuses buffers can run the same binding repeatedly. A is [tile, inner], B [inner, tile].
   */
  async bindMatmul(
    a: Float32Array,
    b: Float32Array,
    tile: number,
    out?: Float32Array,
    inner = tile,
  ): Promise<BoundKernel> {
    const elems = tile * tile;
    checkLength("A", a, tile * inner);
    checkLength("B", b, inner * tile);
    const target = out ?? new Float32Array(elems);
    checkLength("output", target, elems);
    const session = await this.session("map", tile, 2, inner);
    const feeds = {
      A: new ort.Tensor("float32", a, [tile, inner]),
      B: new ort.Tensor("float32", b, [inner, tile]),
    };
    return this.bind(session, feeds, "C", target, tile);
  }

  async matmulInnerInt8(
    as: readonly Uint8Array[],
    bs: readonly Int8Array[],
    tile: number,
    out?: Float32Array,
    timing?: KernelTiming,
  ): Promise<Float32Array> {
    const d = checkPairs(as, bs, tile, "8-bit");
    if (timing) timing.kernel = "int8";
    const operand = tile * tile * d;
    const a = d === 1 ? (as[0] as Uint8Array) : packSideBySide(as, tile, new Uint8Array(operand));
    const b = d === 1 ? (bs[0] as Int8Array) : packStacked(bs, tile, new Int8Array(operand));
    return (await this.bindMatmulInt8(a, b, tile, out, d * tile)).run();
  }

  /**
   * The 8-bit Map call (int8-operands.ts): A uint8 [tile, inner] holding a + 128, B int8
   * [inner, tile]; C is the exact float32 product. Only for integers within ±INT8_MAX_EXACT_BOUND.
   */
  async bindMatmulInt8(
    a: Uint8Array,
    b: Int8Array,
    tile: number,
    out?: Float32Array,
    inner = tile,
  ): Promise<BoundKernel> {
    const elems = tile * tile;
    checkLength("A", a, tile * inner, "uint8");
    checkLength("B", b, inner * tile, "int8");
    const target = out ?? new Float32Array(elems);
    checkLength("output", target, elems);
    const session = await this.session("map-int8", tile, 2, inner);
    const feeds = {
      A: new ort.Tensor("uint8", a, [tile, inner]),
      B: new ort.Tensor("int8", b, [inner, tile]),
    };
    return this.bind(session, feeds, "C", target, tile);
  }

  /**
   * Reduce kernel: S = ((p0 + p1) + p2) + … in exactly this order. More partials than the fan-in
   * are folded through the same chain graph with the running sum as its first input, which keeps
   * the order (and so the float32 result) identical to one long chain. `out`, when given,
   * receives the sum (it must not alias a partial).
   */
  async sum(
    partials: readonly Float32Array[],
    tile: number,
    out?: Float32Array,
  ): Promise<Float32Array> {
    if (partials.length === 0) {
      throw new AgentError(AgentErrorCode.TileShape, "reduce: at least one partial is required");
    }
    const elems = tile * tile;
    for (const [k, p] of partials.entries()) checkLength(`partial ${k}`, p, elems);
    if (out) checkLength("output", out, elems);
    const dims = [tile, tile];
    let acc: Float32Array | undefined;
    let next = 0;
    while (next < partials.length) {
      const chunk: Float32Array[] = acc ? [acc] : [];
      while (chunk.length < this.reduceFanIn && next < partials.length) {
        chunk.push(partials[next++] as Float32Array);
      }
      const session = await this.session("reduce", tile, chunk.length);
      const feeds: Record<string, ort.Tensor> = {};
      reduceInputNames(chunk.length).forEach((name, idx) => {
        feeds[name] = new ort.Tensor("float32", chunk[idx] as Float32Array, dims);
      });
      // Only the last step writes the caller's buffer: earlier sums are still being read.
      const target = next === partials.length && out ? out : new Float32Array(elems);
      acc = await this.bind(session, feeds, "S", target, tile).run();
    }
    return acc as Float32Array;
  }

  private bind(
    session: ort.InferenceSession,
    feeds: Record<string, ort.Tensor>,
    outputName: string,
    target: Float32Array,
    tile: number,
  ): BoundKernel {
    const onCpu = this.executionProvider === "cpu";
    // On CPU the output tensor wraps the caller's buffer, so ORT writes the result in place and
    // nothing is copied afterwards; a device provider returns host memory we copy out once.
    const fetches = onCpu
      ? { [outputName]: new ort.Tensor("float32", target, [tile, tile]) }
      : [outputName];
    return {
      output: target,
      async run() {
        let result: ort.InferenceSession.OnnxValueMapType;
        try {
          result = await session.run(feeds, fetches);
        } catch (err) {
          throw new AgentError(AgentErrorCode.Kernel, `kernel run failed: ${messageOf(err)}`, {
            cause: err,
          });
        }
        if (!onCpu) {
          const value = result[outputName];
          if (!value || !(value.data instanceof Float32Array)) {
            throw new AgentError(
              AgentErrorCode.Kernel,
              `kernel run returned no float32 "${outputName}"`,
            );
          }
          target.set(value.data);
        }
        return target;
      },
    };
  }

  async dispose(): Promise<void> {
    const pending = [...this.sessions.values()];
    this.sessions.clear();
    for (const p of pending) {
      const session = await p.catch(() => undefined);
      await session?.release();
    }
  }
}

/** Checks a map's operand pairs (same count, each [tile, tile]); returns how many pairs. */
export function checkPairs(
  as: readonly { readonly length: number }[],
  bs: readonly { readonly length: number }[],
  tile: number,
  type = "float32",
): number {
  if (as.length === 0 || as.length !== bs.length) {
    throw new AgentError(
      AgentErrorCode.TileShape,
      `map: needs as many A tiles as B tiles, at least one (got ${as.length} and ${bs.length})`,
    );
  }
  for (const [x, a] of as.entries()) checkLength(`A[${x}]`, a, tile * tile, type);
  for (const [x, b] of bs.entries()) checkLength(`B[${x}]`, b, tile * tile, type);
  return as.length;
}

export function checkLength(
  name: string,
  data: { readonly length: number },
  elems: number,
  type = "float32",
): void {
  if (data.length !== elems) {
    throw new AgentError(
      AgentErrorCode.TileShape,
      `${name}: expected ${elems} ${type} elements, got ${data.length}`,
    );
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
