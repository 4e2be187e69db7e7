// Worker-thread side of KernelThreads: one ONNX Runtime session cache per thread, serving Map
// (GEMM) requests. onnxruntime-node runs a session synchronously on the thread that calls it, so
// here it blocks only this thread, never the agent's event loop.
//
// The operands arrive in shared staging buffers (see kernel-threads.ts for why not transferred
// ones), float32 or 8-bit as the request says. ORT takes no SharedArrayBuffer-backed tensor, so
// they are copied into this thread's own buffers, which live here for the thread's life:
// allocated once (grown for a larger job), they are never new external memory to this isolate,
// so no kernel starts a garbage collection.
import { parentPort, workerData } from "node:worker_threads";
import { type BoundKernel, KernelRunner } from "./kernel-runner.js";
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
  // Each request names its kernel: the agent's thread chose it (and checked the 8-bit one).
  int8: "off",
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
      // An 8-bit operand set may be any number of bytes: round up to whole float32 elements.
      a: new Float32Array(Math.ceil(staging.a.byteLength / 4)),
      b: new Float32Array(Math.ceil(staging.b.byteLength / 4)),
      c: new Float32Array(staging.c.byteLength / 4),
    };
  }
  const operand = req.tile * req.inner;
  const elems = req.tile * req.tile;
  const c = own.c.subarray(0, elems);
  const kernels = await runner;
  let bound: BoundKernel;
  let started: number;
  if (req.kernel === "int8") {
    const a = new Uint8Array(own.a.buffer, 0, operand);
    const b = new Int8Array(own.b.buffer, 0, operand);
    a.set(new Uint8Array(staging.a, 0, operand));
    b.set(new Int8Array(staging.b, 0, operand));
    started = performance.now();
    bound = await kernels.bindMatmulInt8(a, b, req.tile, c, req.inner);
  } else {
    const a = own.a.subarray(0, operand);
    const b = own.b.subarray(0, operand);
    a.set(new Float32Array(staging.a, 0, operand));
    b.set(new Float32Array(staging.b, 0, operand));
    started = performance.now();
    bound = await kernels.bindMatmul(a, b, req.tile, c, req.inner);
  }
  await bound.run();
  const kernelMs = performance.now() - started;
  new Float32Array(staging.c, 0, elems).set(c);
  return { id: req.id, kernelMs };
}
