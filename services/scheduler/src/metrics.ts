// tessera_scheduler_* metrics (prom-client through @tessera/observability).
import { createMetricsRegistry, type MetricsRegistry } from "@tessera/observability";
import { EXPIRE_CAUSES } from "./core/planner.js";

type Counter = ReturnType<MetricsRegistry["counter"]>;
type Gauge = ReturnType<MetricsRegistry["gauge"]>;
type Histogram = ReturnType<MetricsRegistry["histogram"]>;

export class SchedulerMetrics {
  readonly registry: MetricsRegistry;
  readonly decisions: Counter;
  readonly expiries: Counter;
  readonly proposals: Counter;
  readonly proposeSeconds: Histogram;
  readonly published: Counter;
  readonly rebuilds: Counter;
  readonly rebuildSeconds: Histogram;
  readonly eventsApplied: Counter;
  readonly viewIndex: Gauge;
  readonly liveAttempts: Gauge;
  readonly pendingStarts: Gauge;
  readonly breakerState: Gauge;
  readonly breakerOpens: Counter;
  readonly planSeconds: Histogram;
  readonly blocked: Gauge;
  readonly standbyPromotions: Counter;

  constructor(instanceId: string) {
    this.registry = createMetricsRegistry({
      defaultLabels: { service: "scheduler", instance: instanceId },
    });
    const r = this.registry;
    this.decisions = r.counter<"type">({
      name: "scheduler_decisions_total",
      help: "Planner decisions by type (start, arm, speculate, expire, fail, reset)",
      labelNames: ["type"],
    });
    this.expiries = r.counter<"cause">({
      name: "scheduler_expiries_total",
      help: "Expire decisions by cause: node-failed (failed or silent node), not-held (bound to a live node whose heartbeats stopped listing it: a lost hand-over), overran (past its deadline)",
      labelNames: ["cause"],
    });
    // Every cause from the start at 0, so a rate over it exists before the first expiry.
    for (const cause of EXPIRE_CAUSES) this.expiries.inc({ cause }, 0);
    this.proposals = r.counter<"command" | "outcome" | "code">({
      name: "scheduler_proposals_total",
      help: "Commands proposed to the manifest by outcome (ok, rejected, error) and rejection code",
      labelNames: ["command", "outcome", "code"],
    });
    this.proposeSeconds = r.histogram<"command">({
      name: "scheduler_propose_seconds",
      help: "Time from proposing a command to its committed reply",
      labelNames: ["command"],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.published = r.counter<"kind" | "duplicate">({
      name: "scheduler_work_items_published_total",
      help: "Work items published on TESSERA_WORK (duplicate=true: dropped by msg-id dedup)",
      labelNames: ["kind", "duplicate"],
    });
    this.rebuilds = r.counter<"reason">({
      name: "scheduler_rebuilds_total",
      help: "View rebuilds from the manifest by reason (start, gap, inconsistent, stalled, reconnect)",
      labelNames: ["reason"],
    });
    this.rebuildSeconds = r.histogram({
      name: "scheduler_rebuild_seconds",
      help: "Time to rebuild the view from the manifest",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    });
    this.eventsApplied = r.counter({
      name: "scheduler_event_batches_applied_total",
      help: "Manifest event batches applied to the view",
    });
    this.viewIndex = r.gauge({
      name: "scheduler_view_index",
      help: "Manifest log index the view reflects",
    });
    this.liveAttempts = r.gauge({
      name: "scheduler_live_attempts",
      help: "Live attempts in the view",
    });
    this.pendingStarts = r.gauge({
      name: "scheduler_pending_starts",
      help: "This instance's start decisions not in its view yet (they hold their node's capacity)",
    });
    this.breakerState = r.gauge({
      name: "scheduler_storage_breaker_state",
      help: "Storage circuit breaker: 0 closed, 1 half-open, 2 open",
    });
    this.breakerOpens = r.counter({
      name: "scheduler_storage_breaker_opens_total",
      help: "Times the storage breaker opened",
    });
    this.planSeconds = r.histogram({
      name: "scheduler_plan_seconds",
      help: "Time of one planning pass",
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
    });
    this.blocked = r.gauge<"reason">({
      name: "scheduler_blocked",
      help: "1 for the reason the last planning pass stopped placing (e.g. slots busy, breaker open, paused)",
      labelNames: ["reason"],
    });
    this.standbyPromotions = r.counter<"outcome">({
      name: "scheduler_standby_promotions_total",
      help: "Warm-standby promotions asked for after a node failed: promoted, already-active, none-answered, no-standby",
      labelNames: ["outcome"],
    });
  }
}
