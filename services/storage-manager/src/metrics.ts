// Prometheus metrics of the storage-manager (tessera_storage_manager_*).
import { createMetricsRegistry, type MetricsRegistry } from "@tessera/observability";

type Counter<L extends string> = ReturnType<MetricsRegistry["counter"]> & {
  inc(labels?: Partial<Record<L, string>> | number, value?: number): void;
};
type Histogram = ReturnType<MetricsRegistry["histogram"]>;
type Gauge = ReturnType<MetricsRegistry["gauge"]>;

export interface StorageManagerMetrics {
  readonly registry: MetricsRegistry;
  readonly eventBatches: Counter<never>;
  readonly badEventBatches: Counter<never>;
  readonly outputsChecked: Counter<"kind" | "result">;
  readonly checkSeconds: Histogram;
  readonly jobsVerified: Counter<"result">;
  readonly verifySeconds: Histogram;
  readonly proposals: Counter<"type">;
  readonly partialsDeleted: Counter<never>;
  readonly deletedJobObjects: Counter<never>;
  readonly caughtUp: Gauge;
  readonly appliedIndex: Gauge;
  readonly httpUnauthorized: Counter<"reason">;
}

export function createStorageManagerMetrics(nodeId: string): StorageManagerMetrics {
  const m = createMetricsRegistry({ defaultLabels: { service: "storage-manager", node: nodeId } });
  return {
    registry: m,
    eventBatches: m.counter({
      name: "tessera_storage_manager_event_batches_total",
      help: "Committed manifest event batches applied",
    }),
    badEventBatches: m.counter({
      name: "tessera_storage_manager_bad_event_batches_total",
      help: "Event batches that failed to decode (skipped, logged)",
    }),
    outputsChecked: m.counter<"kind" | "result">({
      name: "tessera_storage_manager_outputs_checked_total",
      help: "Reported outputs checked against storage (result: ok|bad|retry)",
      labelNames: ["kind", "result"],
    }),
    checkSeconds: m.histogram({
      name: "tessera_storage_manager_output_check_seconds",
      help: "Time to check one output (head + verified read)",
      buckets: [0.001, 0.005, 0.02, 0.05, 0.2, 1, 5],
    }),
    jobsVerified: m.counter<"result">({
      name: "tessera_storage_manager_jobs_verified_total",
      help: "Job verifications (result: verified|failed|reset|retry)",
      labelNames: ["result"],
    }),
    verifySeconds: m.histogram({
      name: "tessera_storage_manager_verify_seconds",
      help: "Freivalds verification of a whole job",
      buckets: [0.01, 0.1, 0.5, 1, 5, 20, 60, 300],
    }),
    proposals: m.counter<"type">({
      name: "tessera_storage_manager_proposals_total",
      help: "Manifest commands proposed",
      labelNames: ["type"],
    }),
    partialsDeleted: m.counter({
      name: "tessera_storage_manager_partials_deleted_total",
      help: "Intermediate partial tiles deleted after their job finished",
    }),
    deletedJobObjects: m.counter({
      name: "tessera_storage_manager_deleted_job_objects_total",
      help: "Stored objects (outputs, partials) of jobs deleted from the manifest",
    }),
    caughtUp: m.gauge({
      name: "tessera_storage_manager_caught_up",
      help: "1 once the manager has replayed TESSERA_EVENTS to its end at start",
    }),
    appliedIndex: m.gauge({
      name: "tessera_storage_manager_applied_index",
      help: "Highest manifest log index whose events were applied",
    }),
    httpUnauthorized: m.counter<"reason">({
      name: "tessera_storage_manager_http_unauthorized_total",
      help: "Outputs-API requests refused for want of the bearer token (reason: missing|wrong)",
      labelNames: ["reason"],
    }),
  };
}
