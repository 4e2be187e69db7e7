// Map kernels on worker threads. onnxruntime-node's session.run is synchronous on the calling
// thread (its async `run` is a setImmediate around a blocking call), so on the agent's JS thread
// a 1024² GEMM stops the event loop for 25–50 ms: every other slot's tile write, each of whose
// steps (open, write, fsync, link, …) needs a turn of the loop, then waits for the kernel, and
// heartbeats and acks wait too. Here each thread owns a session cache and runs one GEMM at a time;
// the agent's thread only copies tiles in and out.
//
// Tiles travel through staging buffers shared with the thread (SharedArrayBuffer): one set per
// GEMM in flight, reused, each sent to a thread once (then named by id) and replaced when a
// larger job outgrows it. A map packs its operands into a free set *before* waiting for a thread,
// so packing overlaps the GEMM the thread is running: with packing after the wait, each 1024²
// map with 8 inner tiles left the thread idle ~14 ms of packing plus the trip, and
// `e2e-matmul --n 8192 --tile 1024` measured 123.2 / 128.0 GFLOP/s with 16.5 / 15.8 % overhead
// against 130.1 / 130.6 and 11.5 / 10.9 % packing ahead (alternating runs, same VM). Tiles
// used to be ArrayBuffers transferred to the thread and back: cheap per trip, but each transfer counts the buffers' bytes again as new
// external memory of the receiving isolate, and a trip of more than V8's 64 MiB soft limit
// (1024-tiles with 8 inner products: 68 MiB; 2048 with 4: 144 MiB) started a full mark-compact in
// both isolates after every kernel — about a tenth of the 2-core box's CPU during a job (`perf`).
// ORT refuses SharedArrayBuffer-backed tensors, so the thread keeps its own ArrayBuffers for the
// GEMM and copies the operands in and the product out; the caller's arrays (cached input tiles,
// pooled output buffers) stay where they are. Input tiles are deliberately not kept in shared
// memory and posted to the thread per map (which would spare the JS thread its packing pass, ~5 %
// of a map's CPU): the thread's isolate holds every SharedArrayBuffer it is sent until its own next
// garbage collection, which their bytes do not prompt — 300 distinct 16 MiB buffers posted to an
// idle thread left 3.1 GiB resident — so tiles the input cache evicted would outlive its memory
// budget. Reduce stays on the JS thread: it is a few
// memory-bound adds, and copying its K partials over would cost what running them does. So do
// small GEMMs, where the trip costs a large part of the kernel (one thread, one caller, on
// the 2-core box, measured with the transferring version: 64² 45 → 136 µs per call, 256² 0.42 → 0.56 ms, 512² 2.7 → 3.3 ms; 1024² 26.1
// → 27.2 ms and 2048² 209 → 215 ms, i.e. +3–4 % where the thread pays off).
import { Worker } from "node:worker_threads";
import { AgentError, AgentErrorCode } from "../errors.js";
import type { MapKernel } from "./int8-operands.js";
import {
  checkLength,
  checkPairs,
  type ExecutionProvider,
  type KernelRunner,
  type KernelTiming,
  type TileKernels,
} from "./kernel-runner.js";
import type { GemmOp } from "./onnx-graphs.js";
import { packSideBySide, packStacked } from "./pack-inner.js";

/** workerData of a kernel thread. */
export interface KernelThreadInit {
  readonly ep: ExecutionProvider;
  readonly intraOpThreads: number;
  readonly gemmOp: GemmOp;
}

/** A thread's shared staging buffers: the packed operands in, the product out. */
export interface KernelStaging {
  readonly id: number;
  readonly a: SharedArrayBuffer;
  readonly b: SharedArrayBuffer;
  readonly c: SharedArrayBuffer;
}

/**
 * One GEMM: C = A·B with A [tile, inner], B [inner, tile] and C [tile, tile] float32 at the start
 * of each staging buffer (inner = d·tile for a map summing d inner products, packed by
 * pack-inner.ts); with kernel int8, A and B are the 8-bit operands of int8-operands.ts.
 * `staging` comes only when the thread's buffers change (first use, growth); the thread keeps
 * the last one it was sent.
 */
export interface KernelThreadRequest {
  readonly id: number;
  readonly tile: number;
  readonly inner: number;
  readonly kernel: MapKernel;
  /** The staging set holding this GEMM's operands (sent in full the first time a thread uses it). */
  readonly stagingId: number;
  readonly staging?: KernelStaging;
  /** Staging sets this thread holds that were dropped (outgrown): let them go. */
  readonly retire?: readonly number[];
}

/** C is in the staging buffer, or the GEMM failed. */
export interface KernelThreadReply {
  readonly id: number;
  /** The GEMM's run time on the thread (the copies in and out not included). */
  readonly kernelMs?: number;
  readonly error?: { readonly message: string; readonly code: string | undefined };
}

interface Pending {
  readonly id: number;
  readonly resolve: (reply: KernelThreadReply) => void;
  readonly reject: (err: Error) => void;
}

const AGENT_CODES = new Set<string>(Object.values(AgentErrorCode));

/** Threads lost in a row without one answered kernel before the pool stops replacing them. */
const MAX_FAILED_STARTS = 3;

/** GEMMs on tiles up to this side run on the JS thread (256: ~0.4 ms of kernel on one core). */
export const INLINE_MAX_TILE = 256;

export interface KernelThreadsOptions {
  /** Worker threads (each runs one GEMM at a time). */
  readonly threads: number;
  /** Largest tile side whose GEMM runs on the JS thread (default INLINE_MAX_TILE; 0: none). */
  readonly inlineMaxTile?: number;
  /** The worker script (default: the built kernel-worker.js); a seam for tests. */
  readonly workerUrl?: URL;
}

/** The compiled worker; under vitest this module is the .ts source and the build sits in dist/. */
function defaultWorkerUrl(): URL {
  const here = new URL("./kernel-worker.js", import.meta.url);
  return import.meta.url.endsWith(".ts")
    ? new URL(here.href.replace("/src/kernel/", "/dist/kernel/"))
    : here;
}

class KernelThread {
  readonly worker: Worker;
  pending: Pending | undefined;
  /** Ids of the staging sets this thread was sent. */
  readonly knows = new Set<number>();
  exited = false;
  /** Answered at least one kernel (so a later loss is not a failed start). */
  answered = false;

  constructor(
    url: URL,
    init: KernelThreadInit,
    onExit: (thread: KernelThread, why: string) => void,
  ) {
    this.worker = new Worker(url, { workerData: init });
    this.worker.on("message", (reply: KernelThreadReply) => {
      const p = this.pending;
      if (!p || p.id !== reply.id) return;
      this.pending = undefined;
      this.answered = true;
      p.resolve(reply);
    });
    this.worker.on("error", (err) => onExit(this, err.message));
    this.worker.on("exit", (code) => onExit(this, `exit code ${code}`));
  }
}

/** TileKernels whose Map products run on `threads` worker threads (reduce on the JS thread). */
export class KernelThreads implements TileKernels {
  readonly executionProvider: ExecutionProvider;
  readonly reduceFanIn: number;
  private readonly init: KernelThreadInit;
  private threads: KernelThread[] = [];
  private readonly idle: KernelThread[] = [];
  private readonly waiters: { resolve: (t: KernelThread) => void; reject: (e: Error) => void }[] =
    [];
  private readonly inlineMaxTile: number;
  private readonly workerUrl: URL;
  private nextId = 1;
  private nextStagingId = 1;
  /** Staging sets not in use (one per GEMM in flight or being packed; reused). */
  private readonly freeStaging: KernelStaging[] = [];
  /** Ids of staging sets dropped because a larger job outgrew them. */
  private readonly retiredStaging = new Set<number>();
  private disposed = false;
  private failedStarts = 0;
  /** Set when threads kept dying before answering anything: every kernel fails with it. */
  private broken: string | undefined;

  /**
   * `runner` is the JS-thread runner: its resolved execution provider is what every thread uses
   * (probed once, so all report the same), and it runs the reduces.
   */
  constructor(
    private readonly runner: KernelRunner,
    options: KernelThreadsOptions,
  ) {
    const threads = options.threads;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new AgentError(
        AgentErrorCode.Config,
        `kernel threads: must be an integer ≥ 1, got ${threads}`,
      );
    }
    this.executionProvider = runner.executionProvider;
    this.reduceFanIn = runner.reduceFanIn;
    this.inlineMaxTile = options.inlineMaxTile ?? INLINE_MAX_TILE;
    this.workerUrl = options.workerUrl ?? defaultWorkerUrl();
    this.init = {
      ep: runner.executionProvider,
      intraOpThreads: runner.intraOpThreads,
      gemmOp: runner.gemmOp,
    };
    for (let i = 0; i < threads; i++) this.spawn();
  }

  get size(): number {
    return this.threads.length;
  }

  private spawn(): void {
    const thread = new KernelThread(this.workerUrl, this.init, (t, why) => this.lost(t, why));
    this.threads.push(thread);
    this.release(thread);
  }

  /** A thread died (a native crash, or terminate): fail its kernel and put a new one in its place. */
  private lost(thread: KernelThread, why: string): void {
    if (thread.exited) return;
    thread.exited = true;
    this.threads = this.threads.filter((t) => t !== thread);
    const i = this.idle.indexOf(thread);
    if (i >= 0) this.idle.splice(i, 1);
    // Disposal stops threads on purpose (the agent is stopping; its items were released).
    thread.pending?.reject(
      this.disposed
        ? new AgentError(AgentErrorCode.Draining, "agent stopping: kernel abandoned")
        : new AgentError(AgentErrorCode.Kernel, `kernel thread stopped during a kernel (${why})`),
    );
    thread.pending = undefined;
    if (this.disposed) return;
    this.failedStarts = thread.answered ? 0 : this.failedStarts + 1;
    if (this.failedStarts < MAX_FAILED_STARTS) {
      this.spawn();
      return;
    }
    // A worker that cannot even start (missing build, runtime refusing threads) would otherwise
    // be respawned forever; fail kernels with the reason instead.
    this.broken = `kernel threads keep stopping before any kernel ran (last: ${why})`;
    if (this.threads.length === 0) {
      for (const w of this.waiters.splice(0)) {
        w.reject(new AgentError(AgentErrorCode.Kernel, this.broken));
      }
    }
  }

  private acquire(): Promise<KernelThread> {
    const t = this.idle.pop();
    if (t) return Promise.resolve(t);
    if (this.broken && this.threads.length === 0) {
      return Promise.reject(new AgentError(AgentErrorCode.Kernel, this.broken));
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(thread: KernelThread): void {
    if (thread.exited) return;
    const next = this.waiters.shift();
    if (next) next.resolve(thread);
    else this.idle.push(thread);
  }

  async matmul(
    a: Float32Array,
    b: Float32Array,
    tile: number,
    out?: Float32Array,
    timing?: KernelTiming,
  ): Promise<Float32Array> {
    const elems = tile * tile;
    checkLength("A", a, elems);
    checkLength("B", b, elems);
    if (out) checkLength("output", out, elems);
    if (this.disposed) throw new AgentError(AgentErrorCode.Kernel, "kernel threads are disposed");
    if (tile <= this.inlineMaxTile) return this.runner.matmul(a, b, tile, out);
    return this.matmulInner([a], [b], tile, out, timing);
  }

  mapKernelFor(exactBound: number | undefined): MapKernel {
    return this.runner.mapKernelFor(exactBound);
  }

  async matmulInner(
    as: readonly Float32Array[],
    bs: readonly Float32Array[],
    tile: number,
    out?: Float32Array,
    timing?: KernelTiming,
  ): Promise<Float32Array> {
    const d = checkPairs(as, bs, tile);
    if (out) checkLength("output", out, tile * tile);
    if (this.disposed) throw new AgentError(AgentErrorCode.Kernel, "kernel threads are disposed");
    if (tile <= this.inlineMaxTile) return this.runner.matmulInner(as, bs, tile, out, timing);
    if (timing) timing.kernel = "float32";
    return this.onThread("float32", tile, d, out, timing, (staging, elems) => {
      packSideBySide(as, tile, new Float32Array(staging.a, 0, elems));
      packStacked(bs, tile, new Float32Array(staging.b, 0, elems));
    });
  }

  async matmulInnerInt8(
    as: readonly Uint8Array[],
    bs: readonly Int8Array[],
    tile: number,
    out?: Float32Array,
    timing?: KernelTiming,
  ): Promise<Float32Array> {
    const d = checkPairs(as, bs, tile, "8-bit");
    if (out) checkLength("output", out, tile * tile);
    if (this.disposed) throw new AgentError(AgentErrorCode.Kernel, "kernel threads are disposed");
    if (tile <= this.inlineMaxTile) return this.runner.matmulInnerInt8(as, bs, tile, out, timing);
    if (timing) timing.kernel = "int8";
    return this.onThread("int8", tile, d, out, timing, (staging, elems) => {
      packSideBySide(as, tile, new Uint8Array(staging.a, 0, elems));
      packStacked(bs, tile, new Int8Array(staging.b, 0, elems));
    });
  }

  /**
   * Packs d pairs into a staging set (`pack` gets it and the operand's element count), then runs
   * the GEMM on a thread and copies C out. Packing comes before waiting for a thread, so it
   * overlaps the GEMM that thread is running.
   */
  private async onThread(
    kernel: MapKernel,
    tile: number,
    d: number,
    out: Float32Array | undefined,
    timing: KernelTiming | undefined,
    pack: (staging: KernelStaging, operandElems: number) => void,
  ): Promise<Float32Array> {
    const elems = tile * tile;
    const operandElems = elems * d;
    const staging = this.takeStaging(operandElems * (kernel === "int8" ? 1 : 4), elems * 4);
    try {
      pack(staging, operandElems);
      const queuedAt = performance.now();
      const thread = await this.acquire();
      if (timing) timing.waitMs += performance.now() - queuedAt;
      let reply: KernelThreadReply;
      try {
        const id = this.nextId++;
        reply = await new Promise<KernelThreadReply>((resolve, reject) => {
          if (thread.exited) {
            reject(
              new AgentError(AgentErrorCode.Kernel, "kernel thread stopped before its kernel"),
            );
            return;
          }
          thread.pending = { id, resolve, reject };
          const inner = tile * d;
          const retire = [...thread.knows].filter((k) => this.retiredStaging.has(k));
          for (const k of retire) thread.knows.delete(k);
          const req: KernelThreadRequest = {
            id,
            tile,
            inner,
            kernel,
            stagingId: staging.id,
            ...(thread.knows.has(staging.id) ? {} : { staging }),
            ...(retire.length > 0 ? { retire } : {}),
          };
          thread.worker.postMessage(req);
          thread.knows.add(staging.id);
        });
      } finally {
        this.release(thread);
      }
      if (reply.error) {
        const code = AGENT_CODES.has(reply.error.code ?? "")
          ? (reply.error.code as AgentErrorCode)
          : AgentErrorCode.Kernel;
        throw new AgentError(code, reply.error.message);
      }
      if (timing && reply.kernelMs !== undefined) timing.kernelMs = reply.kernelMs;
      const target = out ?? new Float32Array(elems);
      target.set(new Float32Array(staging.c, 0, elems));
      return target;
    } finally {
      this.freeStaging.push(staging);
    }
  }

  /** A free staging set large enough (a smaller one is dropped: sizes only grow with jobs). */
  private takeStaging(operandBytes: number, productBytes: number): KernelStaging {
    const i = this.freeStaging.findIndex(
      (s) => s.a.byteLength >= operandBytes && s.c.byteLength >= productBytes,
    );
    if (i >= 0) return this.freeStaging.splice(i, 1)[0] as KernelStaging;
    const outgrown = this.freeStaging.pop();
    if (outgrown) this.retiredStaging.add(outgrown.id);
    return {
      id: this.nextStagingId++,
      a: new SharedArrayBuffer(operandBytes),
      b: new SharedArrayBuffer(operandBytes),
      c: new SharedArrayBuffer(productBytes),
    };
  }

  sum(partials: readonly Float32Array[], tile: number, out?: Float32Array): Promise<Float32Array> {
    return this.runner.sum(partials, tile, out);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const threads = this.threads;
    this.threads = [];
    this.idle.length = 0;
    for (const w of this.waiters.splice(0)) {
      w.reject(new AgentError(AgentErrorCode.Draining, "agent stopping: kernel abandoned"));
    }
    await Promise.all(threads.map((t) => t.worker.terminate()));
    await this.runner.dispose();
  }
}
