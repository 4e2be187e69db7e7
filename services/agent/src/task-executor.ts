// Executes one Map or Reduce work item: read inputs (verified), run the kernel, write the output
// under its deterministic key, and describe the outcome as a CompletionV1. No NATS here: the
// work loop decides what to do with the message based on the returned outcome.
import {
  allocateTile,
  crc32cHex,
  decodeTile,
  emptyOutput,
  exactElementBound,
  inputKey,
  outputKey,
  partialKey,
  partialKeysOfReduce,
  sealTile,
  type TileUnderConstruction,
  tileModeOf,
} from "@tessera/matrix";
import type { CompletionV1, WorkItemV1 } from "@tessera/protocol";
import { AgentErrorCode } from "./errors.js";
import type { CachedTile, InputTileCache } from "./input-cache.js";
import { int8OperandA, int8OperandB, type MapKernel } from "./kernel/int8-operands.js";
import type { KernelTiming, TileKernels } from "./kernel/kernel-runner.js";
import type { TileBufferLease, TileBufferPool } from "./tile-buffers.js";
import {
  copyTile,
  readOrGenerateInput,
  readTile,
  type TileStore,
  writeTile,
} from "./tile-store.js";

export interface ExecutionContext {
  store: TileStore;
  runner: TileKernels;
  nodeId: string;
  /** Decoded input tiles kept across tasks (inputs only; see input-cache.ts). */
  inputs?: InputTileCache;
  /** Reused buffers for the partials and outputs of one task (see tile-buffers.ts). */
  buffers?: TileBufferPool;
  /** Clock in ms since the epoch (injected so tests can pin completedAt). */
  now?: () => number;
}

/** What the work loop needs to settle the message. */
export interface ExecutionOutcome {
  completion: CompletionV1;
  /**
   * For failures: whether trying again could help (transient storage trouble). Corrupt bytes,
   * kernel errors and bad shapes fail the same way every time.
   */
  retryable: boolean;
  error?: unknown;
  /** A map's GEMM (set when the kernel ran). */
  mapKernel?: MapKernel;
}

interface Phases {
  readMs: number;
  computeMs: number;
  writeMs: number;
}

/** Runs the item and always returns an outcome (failures become failed completions). */
export async function executeWorkItem(
  item: WorkItemV1,
  ctx: ExecutionContext,
): Promise<ExecutionOutcome> {
  const now = ctx.now ?? Date.now;
  const started = performance.now();
  const phases: Phases = { readMs: 0, computeMs: 0, writeMs: 0 };
  const base = {
    v: 1 as const,
    itemId: item.itemId,
    jobId: item.jobId,
    taskId: item.taskId,
    attempt: item.attempt,
    kind: item.kind,
    nodeId: ctx.nodeId,
    executionProvider: ctx.runner.executionProvider,
  };
  const timings = () => ({
    readMs: round(phases.readMs),
    computeMs: round(phases.computeMs),
    writeMs: round(phases.writeMs),
    totalMs: round(performance.now() - started),
  });
  if (item.job.mode === "empty") {
    // The task graph without the work: nothing read, computed or stored (noop-tasks measures
    // the control path with these). The manifest records the empty output of the task's key.
    const key =
      item.kind === "map"
        ? partialKey(item.jobId, item.i, item.j, item.k as number)
        : outputKey(item.jobId, item.i, item.j);
    return {
      completion: {
        ...base,
        status: "ok",
        output: { ...emptyOutput(key), key },
        timings: timings(),
        completedAt: now(),
      },
      retryable: false,
    };
  }
  // Held until the output is stored or the task failed: then nothing reads its buffers any more.
  const lease = ctx.buffers?.lease();
  const timing: KernelTiming = { waitMs: 0 };
  try {
    const output =
      item.kind === "map"
        ? await runMap(item, ctx, phases, lease, timing)
        : await runReduce(item, ctx, phases, lease);
    return {
      completion: {
        ...base,
        status: "ok",
        output: {
          uri: output.uri,
          key: output.key,
          checksum: output.checksum,
          bytes: output.bytes,
        },
        timings: timings(),
        completedAt: now(),
      },
      retryable: false,
      ...(timing.kernel ? { mapKernel: timing.kernel } : {}),
    };
  } catch (err) {
    const { code, message, retryable } = describeError(err);
    return {
      completion: {
        ...base,
        status: "failed",
        error: { code, message: message.slice(0, 4096) },
        timings: timings(),
        completedAt: now(),
      },
      retryable,
      error: err,
    };
  } finally {
    lease?.release();
  }
}

async function timed<T>(phases: Phases, phase: keyof Phases, fn: () => Promise<T>): Promise<T> {
  const s = performance.now();
  try {
    return await fn();
  } finally {
    phases[phase] += performance.now() - s;
  }
}

async function runMap(
  item: WorkItemV1,
  ctx: ExecutionContext,
  phases: Phases,
  lease: TileBufferLease | undefined,
  timing: KernelTiming,
) {
  const { job, i, j } = item;
  const k = item.k as number; // validated: required for map items
  const read = (matrix: "A" | "B", row: number, col: number) => async () =>
    (await readOrGenerateInput(ctx.store, job, matrix, row, col)).data;
  /** An input tile in the form `convert` gives it, kept in that form when there is a cache. */
  const input = <T extends CachedTile>(
    matrix: "A" | "B",
    row: number,
    col: number,
    form: string,
    convert: (t: Float32Array) => T,
  ): Promise<T> => {
    const load = async () => convert(await read(matrix, row, col)());
    return ctx.inputs ? ctx.inputs.get(`${inputKey(job, matrix, row, col)}${form}`, load) : load();
  };
  // Map group k sums the inner tiles k·d … k·d + d − 1 (d = kPerMap, usually 1).
  const d = job.kPerMap ?? 1;
  const inner = Array.from({ length: d }, (_, x) => k * d + x);
  // The result lands in the payload of the tile file that gets stored.
  const out = allocateTile(job.tile, job.tile, lease?.alloc);
  // Exact mode's inputs are integers within ±bound (generated so from the job's seed, the dataset
  // key names that seed, and each tile is CRC-checked when read; the verifier regenerates them),
  // which lets the kernels compute in 8 bits where that is exact (kernel/int8-operands.ts). The
  // tiles are then kept in that form: converted once per agent, not at every map that uses them.
  const kernel = ctx.runner.mapKernelFor(
    job.mode === "exact" ? exactElementBound(job.n) : undefined,
  );
  const operands = <A extends CachedTile, B extends CachedTile>(
    form: string,
    toA: (t: Float32Array) => A,
    toB: (t: Float32Array) => B,
  ) =>
    timed(phases, "readMs", () =>
      Promise.all([
        Promise.all(inner.map((kk) => input("A", i, kk, form, toA))),
        Promise.all(inner.map((kk) => input("B", kk, j, form, toB))),
      ]),
    );
  const before = phases.computeMs;
  if (kernel === "int8") {
    const [as, bs] = await operands("#int8", int8OperandA, int8OperandB);
    await timed(phases, "computeMs", () =>
      ctx.runner.matmulInnerInt8(as, bs, job.tile, out.data, timing),
    );
  } else {
    const same = (t: Float32Array) => t;
    const [as, bs] = await operands("", same, same);
    await timed(phases, "computeMs", () =>
      ctx.runner.matmulInner(as, bs, job.tile, out.data, timing),
    );
  }
  // Compute is the kernel's own time: waiting for a kernel thread and copying tiles to and from
  // it are overhead, visible in totalMs only.
  phases.computeMs = before + (timing.kernelMs ?? phases.computeMs - before - timing.waitMs);
  return timed(phases, "writeMs", () =>
    writeResult(ctx, partialKey(item.jobId, i, j, k), out, job),
  );
}

/**
 * Sums partials k = 0..K/kPerMap-1 in that order, reading them a chunk at a time so memory stays at
 * fan-in tiles whatever K is (each chunk's buffers go back to the pool once it is summed: the
 * running sum is a fresh array). Folding the running sum into the next chunk's chain keeps the
 * float32 order identical to one long chain ((p0+p1)+p2)+…
 */
async function runReduce(
  item: WorkItemV1,
  ctx: ExecutionContext,
  phases: Phases,
  lease: TileBufferLease | undefined,
) {
  const { job } = item;
  const keys = partialKeysOfReduce(item.jobId, job, item.i, item.j);
  if (keys.length === 1) return storeSolePartial(item, ctx, phases, keys[0] as string, lease);
  const fanIn = ctx.runner.reduceFanIn;
  const out = allocateTile(job.tile, job.tile, lease?.alloc);
  let acc: Float32Array | undefined;
  for (let next = 0; next < keys.length; ) {
    const take = acc ? fanIn - 1 : fanIn;
    const chunkKeys = keys.slice(next, next + take);
    next += chunkKeys.length;
    const chunkLease = ctx.buffers?.lease();
    try {
      const chunk = await timed(phases, "readMs", () =>
        Promise.all(chunkKeys.map((key) => readTile(ctx.store, key, job.tile, chunkLease?.alloc))),
      );
      const operands = acc ? [acc, ...chunk] : chunk;
      const last = next === keys.length;
      acc = await timed(phases, "computeMs", () =>
        ctx.runner.sum(operands, job.tile, last ? out.data : undefined),
      );
    } finally {
      chunkLease?.release();
    }
  }
  return timed(phases, "writeMs", () =>
    writeResult(ctx, outputKey(item.jobId, item.i, item.j), out, job),
  );
}

/**
 * A reduce over a single partial (kPerMap = K, what `--k-per-map auto` picks at 8192/2048) is
 * the identity: the output tile is the partial, header and values, bit for bit (one operand
 * summed with nothing). Its bytes are checked like any partial's — the store's CRC on read, then
 * the tile's own header and shape — and the store copies that object to the output
 * key (fs: a hard link; S3, GCS: a server-side copy) with the checksum just verified, so neither
 * the Sum kernel nor a second write of the tile's bytes is needed.
 */
async function storeSolePartial(
  item: WorkItemV1,
  ctx: ExecutionContext,
  phases: Phases,
  key: string,
  lease: TileBufferLease | undefined,
) {
  const { job } = item;
  const checksum = await timed(phases, "readMs", async () => {
    const stored = await ctx.store.get(key, { into: lease?.alloc });
    decodeTile(stored, { rows: job.tile, cols: job.tile, bytesVerified: true });
    // get checked these bytes against the recorded CRC but does not return it; one more pass
    // (~3 ms per 16 MiB) ties the copy to exactly the bytes checked here.
    return crc32cHex(stored);
  });
  return timed(phases, "writeMs", () =>
    copyTile(ctx.store, key, outputKey(item.jobId, item.i, item.j), checksum),
  );
}

function writeResult(
  ctx: ExecutionContext,
  key: string,
  tile: TileUnderConstruction,
  job: WorkItemV1["job"],
) {
  const bytes = sealTile(tile, { rows: job.tile, cols: job.tile, mode: tileModeOf(job.mode) });
  return writeTile(ctx.store, key, bytes);
}

/** Maps any thrown value onto a completion error: our catalogue codes pass through as they are. */
export function describeError(err: unknown): { code: string; message: string; retryable: boolean } {
  if (typeof err === "object" && err !== null) {
    const e = err as { code?: unknown; message?: unknown; retryable?: unknown };
    const code =
      typeof e.code === "string" && e.code.startsWith("TESSERA_E_")
        ? e.code
        : AgentErrorCode.Internal;
    const message = typeof e.message === "string" ? e.message : String(err);
    return { code, message, retryable: e.retryable === true };
  }
  return { code: AgentErrorCode.Internal, message: String(err), retryable: false };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
