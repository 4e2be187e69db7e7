// Worker-thread side of KernelThreads: one ONNX Runtime session cache per thread, serving Map
// (GEMM) requests. onnxruntime-node runs a session synchronously on the thread that calls it, so
// here it blocks only this thread, never the agent's event loop.
//
// The operands arrive in shared staging buffers (see kernel-threads.ts for why not transferred
// ones). ORT takes no SharedArrayBuffer-backed tensor, so they are copied into this thread's own
// buffers, which live here for the thread's life: allocated once (grown for a larger job), they
// are never new external memory to this isolate, so no kernel starts a garbage collection.
import { parentPort, workerData } from "node:worker_threads";
import { KernelRunner } from "./kernel-runner.js";
import type {
  KernelStaging,
  KernelThreadInit,
  KernelThreadReply,
  KernelThreadRequest,
} from "./kernel-threads.js";

const port = parentPort;
if (!port) throw new Error("kernel-worker.js must run as a worker thread");
const init = workerData as KernelThreadInit;
const runner = KernelRunner.create({
  ep: init.ep,
  intraOpThreads: init.intraOpThreads,
  gemmOp: init.gemmOp,
});
// A runner that cannot start fails each request (serve awaits it), not the thread.
runner.catch(() => undefined);

/** The staging sets the agent's thread sent, by id (a few: one per GEMM in flight). */
const stagings = new Map<number, KernelStaging>();
/** This thread's GEMM buffers (ArrayBuffers ORT accepts), grown to the largest staging set. */
let own: { a: Float32Array; b: Float32Array; c: Float32Array } | undefined;

port.on("message", (req: KernelThreadRequest) => {
  void serve(req).then(
    (reply) => port.postMessage(reply),
    (err: unknown) => {
      const e = err as { message?: unknown; code?: unknown };
      const reply: KernelThreadReply = {
        id: req.id,
        error: {
          message: typeof e?.message === "string" ? e.message : String(err),
          code: typeof e?.code === "string" ? e.code : undefined,
        },
      };
      port.postMessage(reply);
    },
  );
});

async function serve(req: KernelThreadRequest): Promise<KernelThreadReply> {
  for (const id of req.retire ?? []) stagings.delete(id);
  if (req.staging) stagings.set(req.stagingId, req.staging);
  const staging = stagings.get(req.stagingId);
  if (!staging) throw new Error(`kernel request for unknown staging set ${req.stagingId}`);
  if (!own || own.a.length * 4 < staging.a.byteLength || own.c.length * 4 < staging.c.byteLength) {
    own = {
      a: new Float32Array(staging.a.byteLength / 4),
      b: new Float32Array(staging.b.byteLength / 4),
      c: new Float32Array(staging.c.byteLength / 4),
    };
  }
  const operand = req.tile * req.inner;
  const elems = req.tile * req.tile;
  const a = own.a.subarray(0, operand);
  const b = own.b.subarray(0, operand);
  const c = own.c.subarray(0, elems);
  a.set(new Float32Array(staging.a, 0, operand));
  b.set(new Float32Array(staging.b, 0, operand));
  const kernels = await runner;
  const started = performance.now();
  const bound = await kernels.bindMatmul(a, b, req.tile, c, req.inner);
  await bound.run();
  const kernelMs = performance.now() - started;
  new Float32Array(staging.c, 0, elems).set(c);
  return { id: req.id, kernelMs };
}
