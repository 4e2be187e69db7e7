import { METRIC_NAMES, type MetricsRegistry } from "@tessera/observability";

// prom-client types through the registry's own signatures (no direct prom-client dependency).
type Gauge = ReturnType<MetricsRegistry["gauge"]>;
type Counter = ReturnType<MetricsRegistry["counter"]>;
type Histogram = ReturnType<MetricsRegistry["histogram"]>;

/**
 * The Raft metrics a RaftPeer maintains when given a registry. The service shell must not
 * register these names itself (prom-client rejects duplicates); it only serves /metrics.
 */
export interface RaftMetrics {
  readonly term: Gauge;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly isLeader: Gauge;
  readonly leaderChanges: Counter;
  readonly proposals: Counter;
  readonly commitLatency: Histogram;
  readonly snapshotBytes: Gauge;
  readonly snapshotSeconds: Histogram;
  readonly transportDropped: Counter;
  readonly logFsyncs: Counter;
  readonly readyEntries: Histogram;
  readonly entryCommands: Histogram;
}

export const RAFT_METRIC_NAMES = {
  term: METRIC_NAMES.raftTerm,
  commitIndex: METRIC_NAMES.raftCommitIndex,
  appliedIndex: "tessera_raft_applied_index",
  isLeader: METRIC_NAMES.raftIsLeader,
  leaderChanges: "tessera_raft_leader_changes_total",
  proposals: "tessera_raft_proposals_total",
  commitLatency: "tessera_raft_commit_latency_seconds",
  snapshotBytes: "tessera_raft_snapshot_bytes",
  snapshotSeconds: "tessera_raft_snapshot_seconds",
  transportDropped: "tessera_raft_transport_dropped_total",
  logFsyncs: "tessera_raft_log_fsyncs_total",
  readyEntries: "tessera_raft_ready_entries",
  entryCommands: "tessera_raft_entry_commands",
} as const;

export function createRaftMetrics(r: MetricsRegistry): RaftMetrics {
  return {
    term: r.gauge({ name: RAFT_METRIC_NAMES.term, help: "Current Raft term" }),
    commitIndex: r.gauge({ name: RAFT_METRIC_NAMES.commitIndex, help: "Raft commit index" }),
    appliedIndex: r.gauge({
      name: RAFT_METRIC_NAMES.appliedIndex,
      help: "Index of the last entry applied to the manifest FSM",
    }),
    isLeader: r.gauge({
      name: RAFT_METRIC_NAMES.isLeader,
      help: "1 while this peer is the leader",
    }),
    leaderChanges: r.counter({
      name: RAFT_METRIC_NAMES.leaderChanges,
      help: "Times this peer saw the leader change (including to none)",
    }),
    proposals: r.counter({
      name: RAFT_METRIC_NAMES.proposals,
      help: "Proposals made on this peer by outcome (applied|lost|rejected)",
      labelNames: ["outcome"] as const,
    }),
    commitLatency: r.histogram({
      name: RAFT_METRIC_NAMES.commitLatency,
      help: "Leader: seconds from propose to applied locally",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    }),
    snapshotBytes: r.gauge({
      name: RAFT_METRIC_NAMES.snapshotBytes,
      help: "Size of the latest snapshot taken or installed, bytes",
    }),
    snapshotSeconds: r.histogram({
      name: RAFT_METRIC_NAMES.snapshotSeconds,
      help: "Seconds to take (source=local) or install (source=leader) a snapshot",
      labelNames: ["source"] as const,
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    }),
    transportDropped: r.counter({
      name: RAFT_METRIC_NAMES.transportDropped,
      help: "Outbound Raft messages dropped (loss = injected, others = link trouble)",
      labelNames: ["to", "reason"] as const,
    }),
    logFsyncs: r.counter({
      name: RAFT_METRIC_NAMES.logFsyncs,
      help: "fdatasync calls made for Raft log writes (group commit: one covers many entries)",
    }),
    readyEntries: r.histogram({
      name: RAFT_METRIC_NAMES.readyEntries,
      help: "Log entries appended per Raft Ready that appended any (the batching factor)",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
    }),
    entryCommands: r.histogram({
      name: RAFT_METRIC_NAMES.entryCommands,
      help: "Leader: commands packed into each entry it proposed (those queued behind an append)",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    }),
  };
}
