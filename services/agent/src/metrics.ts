// The agent's Prometheus metrics (names from @tessera/observability's METRIC_NAMES, so the Grafana
// dashboards and the other services agree on them) and the two places they are fed from: every
// executed work item's outcome, and every tile read or written through storage.
import { createMetricsRegistry, METRIC_NAMES, type MetricsRegistry } from "@tessera/observability";
import type { ExecutionOutcome } from "./task-executor.js";
import { isCorrupt, type StoredObject, type TileStore } from "./tile-store.js";

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface AgentMetrics {
  readonly registry: MetricsRegistry;
  /** One executed item: its status, phase times, and (maps) the kernel's GFLOP/s. */
  /** `job`: the item's tile side and inner tiles per map (a map's FLOPs are 2·tile³·kPerMap). */
  observeOutcome(
    outcome: ExecutionOutcome,
    job: { readonly tile: number; readonly kPerMap?: number | undefined },
  ): void;
  heartbeatSent(): void;
  /** A report settled: answered by the leader (direct, with `handed` items) or stored on TESSERA_CMD. */
  reported(path: "direct" | "stream", handed: number): void;
  /** A TileStore that counts bytes, times operations and counts checksum mismatches. */
  meter(store: TileStore, backend: string): TileStore;
}

export function createAgentMetrics(
  labels: { nodeId: string; pool: string },
  /** Items the work loop holds right now; read on every scrape. */
  runningItems: () => number,
): AgentMetrics {
  const registry = createMetricsRegistry({
    defaultLabels: { service: "agent", node: labels.nodeId, pool: labels.pool },
  });
  const items = registry.counter<"kind" | "status">({
    name: METRIC_NAMES.workItemsTotal,
    help: "Work items executed, by kind and status (ok | failed | retry: handed back to be redelivered)",
    labelNames: ["kind", "status"],
  });
  const phaseSeconds = registry.histogram<"kind" | "phase">({
    name: METRIC_NAMES.workItemSeconds,
    help: "Time per executed work item, by phase (read | compute | write | total)",
    labelNames: ["kind", "phase"],
    buckets: SECONDS_BUCKETS,
  });
  registry.gauge({
    name: METRIC_NAMES.workItemsRunning,
    help: "Work items this agent holds right now",
    collect() {
      this.set(runningItems());
    },
  });
  const gflops = registry.gauge<"ep" | "kernel">({
    name: METRIC_NAMES.kernelGflops,
    help: "GFLOP/s of the last map kernel (2·tile²·inner flops ÷ compute time), by execution provider and GEMM (float32, int8)",
    labelNames: ["ep", "kernel"],
  });
  const heartbeats = registry.counter({
    name: METRIC_NAMES.heartbeatsSentTotal,
    help: "Heartbeats published",
  });
  const reports = registry.counter<"path">({
    name: METRIC_NAMES.reportsTotal,
    help: "Completion reports (single or batch) settled: direct = answered by the consensus leader, stream = stored on TESSERA_CMD",
    labelNames: ["path"],
  });
  const handedItems = registry.counter({
    name: METRIC_NAMES.handedItemsTotal,
    help: "Work items the leader handed over in direct report replies (armed reduces the reports started)",
  });
  const bytes = registry.counter<"backend" | "op">({
    name: METRIC_NAMES.storageBytesTotal,
    help: "Bytes read from / written to object storage by this agent",
    labelNames: ["backend", "op"],
  });
  const opSeconds = registry.histogram<"backend" | "op">({
    name: METRIC_NAMES.storageOpSeconds,
    help: "Object storage operation time (get = verified read; put = durable write)",
    labelNames: ["backend", "op"],
    buckets: SECONDS_BUCKETS,
  });
  const mismatches = registry.counter<"backend">({
    name: METRIC_NAMES.storageChecksumMismatchTotal,
    help: "Reads whose bytes did not match the recorded checksum",
    labelNames: ["backend"],
  });

  return {
    registry,
    observeOutcome({ completion: c, retryable, mapKernel }, { tile, kPerMap }) {
      const status = c.status === "ok" ? "ok" : retryable ? "retry" : "failed";
      items.inc({ kind: c.kind, status });
      const t = c.timings;
      phaseSeconds.observe({ kind: c.kind, phase: "read" }, t.readMs / 1000);
      phaseSeconds.observe({ kind: c.kind, phase: "compute" }, t.computeMs / 1000);
      phaseSeconds.observe({ kind: c.kind, phase: "write" }, t.writeMs / 1000);
      phaseSeconds.observe({ kind: c.kind, phase: "total" }, t.totalMs / 1000);
      if (c.kind === "map" && c.status === "ok" && t.computeMs > 0) {
        gflops.set(
          { ep: c.executionProvider, kernel: mapKernel ?? "float32" },
          (2 * tile ** 3 * (kPerMap ?? 1)) / (t.computeMs * 1e6),
        );
      }
    },
    heartbeatSent: () => heartbeats.inc(),
    reported(path, handed) {
      reports.inc({ path });
      if (handed > 0) handedItems.inc(handed);
    },
    meter(store, backend) {
      const timed = async <T>(
        op: "get" | "put" | "copy" | "delete",
        fn: () => Promise<T>,
      ): Promise<T> => {
        const end = opSeconds.startTimer({ backend, op });
        try {
          return await fn();
        } catch (err) {
          if (isCorrupt(err)) mismatches.inc({ backend });
          throw err;
        } finally {
          end();
        }
      };
      return {
        async get(key, options) {
          const data = await timed("get", () => store.get(key, options));
          bytes.inc({ backend, op: "read" }, data.byteLength);
          return data;
        },
        async put(key, data): Promise<StoredObject> {
          const stored = await timed("put", () => store.put(key, data));
          // An idempotent put that found the same bytes wrote nothing.
          if (stored.created !== false) bytes.inc({ backend, op: "write" }, data.byteLength);
          return stored;
        },
        // A copy moves no bytes through the agent: it counts as an operation, not as bytes.
        copy: (fromKey, toKey, options) => timed("copy", () => store.copy(fromKey, toKey, options)),
        delete: (key) => timed("delete", () => store.delete(key)),
      };
    },
  };
}
