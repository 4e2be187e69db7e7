// Prometheus metrics of a consensus peer. One registry per peer: the RaftPeer registers the Raft
// metrics on it (tessera_raft_term, _commit_index, _applied_index, _is_leader,
// _leader_changes_total, _commit_latency_seconds, _snapshot_bytes, _snapshot_seconds; see
// peer/metrics.ts), the shell adds what only it sees: proposals by door, event publishing,
// terminated commands, and the manifest's jobs and tasks by state.
import { createMetricsRegistry, METRIC_NAMES, type MetricsRegistry } from "@tessera/observability";

// prom-client types through the registry's own signatures (no direct prom-client dependency).
type Counter<L extends string> = ReturnType<MetricsRegistry["counter"]> & {
  inc(labels?: Partial<Record<L, string>> | number, value?: number): void;
};

export type ProposalSource = "grpc" | "http" | "jetstream" | "direct" | "heartbeat" | "internal";
export type ProposalOutcome = "ok" | "rejected" | "not_leader" | "error";

export class ConsensusMetrics {
  readonly registry: MetricsRegistry;
  readonly proposals: Counter<"source" | "outcome">;
  readonly eventsPublished: Counter<"outcome">;
  readonly commandsTerminated: Counter<string>;
  readonly consumerResets: Counter<string>;
  readonly directReports: Counter<"outcome">;
  readonly handedAttempts: Counter<string>;
  readonly earlyHandovers: Counter<"outcome">;
  readonly httpUnauthorized: Counter<"reason">;

  constructor(nodeId: number, registry?: MetricsRegistry) {
    this.registry =
      registry ??
      createMetricsRegistry({ defaultLabels: { service: "consensus", node: String(nodeId) } });
    const r = this.registry;
    this.proposals = r.counter<"source" | "outcome">({
      name: "tessera_consensus_proposals_total",
      help: "Commands proposed through this peer, by door (grpc|http|jetstream|heartbeat) and outcome (ok|rejected|not_leader|error)",
      labelNames: ["source", "outcome"],
    });
    this.eventsPublished = r.counter<"outcome">({
      name: "tessera_consensus_event_batches_published_total",
      help: "Event batches published on TESSERA_EVENTS by this peer (outcome: stored|duplicate|error)",
      labelNames: ["outcome"],
    });
    this.commandsTerminated = r.counter({
      name: "tessera_consensus_commands_terminated_total",
      help: "JetStream commands terminated as invalid (never retried)",
    });
    this.consumerResets = r.counter({
      name: "tessera_consensus_command_consumer_resets_total",
      help: "Times a new leader re-created the command consumer to get a dead leader's un-acked commands back at once",
    });
    this.directReports = r.counter<"outcome">({
      name: "tessera_consensus_direct_reports_total",
      help: "Agent reports answered on tessera.leader.report, by outcome (applied, unavailable, invalid)",
      labelNames: ["outcome"],
    });
    this.handedAttempts = r.counter({
      name: "tessera_consensus_handed_attempts_total",
      help: "Armed attempts handed over to the agent whose direct report started them",
    });
    this.earlyHandovers = r.counter<"outcome">({
      name: "tessera_consensus_early_handovers_total",
      help: "Work items sent to a reporting agent before its report committed, by outcome (confirmed: the committed reply handed them over too; unconfirmed: it did not, or the outcome is unknown)",
      labelNames: ["outcome"],
    });
    for (const outcome of ["confirmed", "unconfirmed"]) this.earlyHandovers.inc({ outcome }, 0);
    this.httpUnauthorized = r.counter<"reason">({
      name: "tessera_consensus_http_unauthorized_total",
      help: "HTTP API requests refused for want of this cluster's bearer token (--api-token-file), by reason (missing: no Authorization header; wrong: another token)",
      labelNames: ["reason"],
    });
    for (const reason of ["missing", "wrong"]) this.httpUnauthorized.inc({ reason }, 0);
  }

  /**
   * Jobs by state and their tasks by state (pending|running|done|failed) as this peer's manifest
   * holds them, computed on each scrape from the jobs' running counts (O(jobs), no task scan).
   */
  trackManifest(
    jobs: () => readonly {
      state: string;
      counts: { pending: number; running: number; done: number; failed: number };
    }[],
  ): void {
    this.registry.gauge<"state">({
      name: METRIC_NAMES.jobsTotal,
      help: "Jobs in this peer's manifest, by state",
      labelNames: ["state"],
      collect() {
        this.reset();
        for (const j of jobs()) this.inc({ state: j.state });
      },
    });
    this.registry.gauge<"state">({
      name: METRIC_NAMES.tasksTotal,
      help: "Tasks of every job in this peer's manifest, by state (pending|running|done|failed)",
      labelNames: ["state"],
      collect() {
        const sum = { pending: 0, running: 0, done: 0, failed: 0 };
        for (const { counts: c } of jobs()) {
          sum.pending += c.pending;
          sum.running += c.running;
          sum.done += c.done;
          sum.failed += c.failed;
        }
        for (const [state, n] of Object.entries(sum)) this.set({ state }, n);
      },
    });
  }

  /** The manifest's committed feature level and the highest this peer can apply (on scrape). */
  trackFeatureLevel(level: () => { readonly cluster: number; readonly supported: number }): void {
    this.registry.gauge<"of">({
      name: "tessera_consensus_feature_level",
      help: "Manifest feature level: of=cluster (committed, as this peer applied it) or of=peer (the highest this peer can apply, --feature-level)",
      labelNames: ["of"],
      collect() {
        const l = level();
        this.set({ of: "cluster" }, l.cluster);
        this.set({ of: "peer" }, l.supported);
      },
    });
  }

  /** Prometheus text exposition for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
