// Worker-thread side of KernelThreads: one ONNX Runtime session cache per thread, serving Map
// (GEMM) requests. onnxruntime-node runs a session synchronously on the thread that calls it, so
// here it blocks only this thread, never the agent's event loop.
import { parentPort, workerData } from "node:worker_threads";
import { KernelRunner } from "./kernel-runner.js";
import type { KernelThreadInit, KernelThreadReply, KernelThreadRequest } from "./kernel-threads.js";

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

port.on("message", (req: KernelThreadRequest) => {
  void serve(req).then(
    (reply) => port.postMessage(reply, [reply.a, reply.b, reply.c]),
    (err: unknown) => {
      const e = err as { message?: unknown; code?: unknown };
      const reply: KernelThreadReply = {
        id: req.id,
        a: req.a,
        b: req.b,
        c: req.c,
        error: {
          message: typeof e?.message === "string" ? e.message : String(err),
          code: typeof e?.code === "string" ? e.code : undefined,
        },
      };
      port.postMessage(reply, [req.a, req.b, req.c]);
    },
  );
});

async function serve(req: KernelThreadRequest): Promise<KernelThreadReply> {
  const operand = req.tile * req.inner;
  const kernels = await runner;
  const started = performance.now();
  const bound = await kernels.bindMatmul(
    new Float32Array(req.a, 0, operand),
    new Float32Array(req.b, 0, operand),
    req.tile,
    new Float32Array(req.c, 0, req.tile * req.tile),
    req.inner,
  );
  await bound.run();
  const kernelMs = performance.now() - started;
  return { id: req.id, kernelMs, a: req.a, b: req.b, c: req.c };
}
