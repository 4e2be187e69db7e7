/**
 * Metric names shared across services, so dashboards (grafana/) and the metrics service can
 * refer to one list. Units follow Prometheus conventions (`_seconds`, `_bytes`, `_total`).
 */
export const METRIC_NAMES = {
  // agent
  workItemsTotal: "tessera_agent_work_items_total", // labels: kind, status
  workItemSeconds: "tessera_agent_work_item_seconds", // histogram; labels: kind, phase(read|compute|write)
  workItemsRunning: "tessera_agent_work_items_running", // gauge
  kernelGflops: "tessera_agent_kernel_gflops", // gauge; labels: ep, kernel
  heartbeatsSentTotal: "tessera_agent_heartbeats_sent_total",
  reportsTotal: "tessera_agent_reports_total", // labels: path(direct|stream)
  handedItemsTotal: "tessera_agent_handed_items_total", // work handed over in report replies
  // messaging
  messagesConsumedTotal: "tessera_messaging_consumed_total", // labels: stream, durable, outcome(ack|nak|term)
  messagesTerminatedTotal: "tessera_messaging_terminated_total", // labels: stream, reason
  publishDuplicatesTotal: "tessera_messaging_publish_duplicates_total",
  // storage
  storageBytesTotal: "tessera_storage_bytes_total", // labels: backend, op(read|write)
  storageOpSeconds: "tessera_storage_op_seconds", // histogram; labels: backend, op
  storageChecksumMismatchTotal: "tessera_storage_checksum_mismatch_total", // labels: backend
  // control plane
  raftTerm: "tessera_raft_term",
  raftCommitIndex: "tessera_raft_commit_index",
  raftIsLeader: "tessera_raft_is_leader",
  tasksTotal: "tessera_manifest_tasks_total", // labels: state
  jobsTotal: "tessera_manifest_jobs_total", // labels: state
  // logs
  logLinesDroppedTotal: "tessera_log_lines_dropped_total",
} as const;

export type MetricNameKey = keyof typeof METRIC_NAMES;
