// Builders for core tests: views are made by applying real event batches, so the tests also
// exercise the reducer the shell uses.
import type { ManifestEvent, ManifestEventBatchV1 } from "@tessera/protocol";
import { applyBatch, emptyView, type SchedulerView } from "./view.js";

/** A task.completed event as the FSM emits it (`runMs`: the agent's own run time, if given). */
export function completedEvent(
  jobId: string,
  taskId: string,
  attempt: number,
  nodeId = "n1",
  runMs?: number,
): ManifestEvent {
  return {
    category: "task",
    type: "completed",
    jobId,
    taskId,
    attempt,
    kind: taskId.startsWith("m") ? "map" : "reduce",
    nodeId,
    output: { uri: `fs:///x/${jobId}/${taskId}`, checksum: "00000000", bytes: 1 },
    ...(runMs !== undefined ? { runMs } : {}),
  };
}

export class ViewBuilder {
  readonly view: SchedulerView = emptyView();
  private index = 0;

  apply(at: number, ...events: ManifestEvent[]): this {
    const batch: ManifestEventBatchV1 = { v: 1, index: ++this.index, term: 1, at, events };
    const out = applyBatch(this.view, batch);
    if (out.kind !== "applied")
      throw new Error(`fixture batch not applied: ${JSON.stringify(out)}`);
    return this;
  }

  submit(
    jobId: string,
    n = 128,
    tile = 64,
    maxAttempts = 4,
    at = 0,
    kPerMap = 1,
    mode: "exact" | "empty" = "exact",
  ): this {
    const T = n / tile;
    return this.apply(at, {
      category: "job",
      type: "submitted",
      jobId,
      spec: { n, tile, mode, seed: 1, ...(kPerMap === 1 ? {} : { kPerMap }) },
      maps: (T * T * T) / kPerMap,
      reduces: T * T,
      maxAttempts,
    });
  }

  node(
    nodeId: string,
    slots = 2,
    labels: Partial<{ cloud: string; region: string; zone: string; pool: string }> = {},
    at = 0,
  ): this {
    return this.apply(at, {
      category: "node",
      type: "joined",
      nodeId,
      labels: { cloud: "local", region: "r1", zone: "z1", pool: "cpu", ...labels },
      capacity: { slots, cpus: slots, memoryBytes: 1 << 30, gpus: 0 },
      executionProvider: "cpu",
    });
  }

  start(
    jobId: string,
    taskId: string,
    attempt: number,
    at: number,
    opts: { nodeId?: string; speculative?: boolean } = {},
  ): this {
    return this.apply(at, {
      category: "task",
      type: "started",
      jobId,
      taskId,
      attempt,
      kind: taskId.startsWith("m") ? "map" : "reduce",
      ...(opts.nodeId ? { nodeId: opts.nodeId } : {}),
      speculative: opts.speculative ?? false,
    });
  }

  complete(jobId: string, taskId: string, attempt: number, at: number, nodeId = "n1"): this {
    return this.apply(at, completedEvent(jobId, taskId, attempt, nodeId));
  }

  fail(
    jobId: string,
    taskId: string,
    attempt: number,
    at: number,
    reason = "TESSERA_E_AGENT_KERNEL: boom",
    nodeId?: string,
  ): this {
    return this.apply(at, {
      category: "task",
      type: "attempt-failed",
      jobId,
      taskId,
      attempt,
      ...(nodeId ? { nodeId } : {}),
      reason,
      retryable: true,
      willRetry: true,
    });
  }

  /** Starts and completes every map of row (i,j). */
  completeRow(jobId: string, i: number, j: number, at: number): this {
    const G = this.view.jobs.get(jobId)?.partials ?? 0;
    for (let k = 0; k < G; k++)
      this.start(jobId, `m-${i}-${j}-${k}`, 1, at).complete(jobId, `m-${i}-${j}-${k}`, 1, at + 10);
    return this;
  }
}
