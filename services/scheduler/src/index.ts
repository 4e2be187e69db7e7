/**
 * @tessera/scheduler: turns manifest state into work items. The process is dist/main.js
 * (tessera-scheduler); the pure policy core is exported for tests, benchmarks and the CLI.
 */

export {
  parseSchedulerConfig,
  SCHEDULER_ENV,
  SCHEDULER_USAGE,
  type SchedulerConfig,
} from "./config.js";
export {
  type BreakerPolicy,
  type BreakerState,
  DEFAULT_BREAKER,
  isStorageOutage,
  StorageBreaker,
} from "./core/breaker.js";
export {
  DEFAULT_DEADLINES,
  type DeadlinePolicy,
  DurationStats,
  isStraggler,
  learn,
  overran,
  percentile,
} from "./core/deadlines.js";
export {
  eligibleNodes,
  type InputLocation,
  majorityLocation,
  type NodeCandidate,
  PLACEMENT_POLICIES,
  type PlacementOptions,
  type PlacementPolicyName,
  type PlacementResult,
  placeTask,
} from "./core/placement.js";
export {
  attemptKey,
  type Decision,
  type Plan,
  type PlannerConfig,
  type PlannerInputs,
  partialsToReset,
  plan,
  taskKey,
} from "./core/planner.js";
export {
  backoffMs,
  DEFAULT_RETRY,
  exhaustedReason,
  hintFor,
  type RetryPolicy,
  retryDueAt,
} from "./core/retry.js";
export { type RunnableTask, runnableTasks } from "./core/runnable.js";
export {
  applyBatch,
  emptyView,
  type JobView,
  type NodeView,
  type SchedulerView,
  type TaskView,
} from "./core/view.js";
export { SchedulerError, SchedulerErrorCode } from "./errors.js";
export {
  type ApiAccess,
  ConsensusManifest,
  type ManifestPort,
  resolveGrpcPeers,
} from "./manifest.js";
export { Scheduler, type SchedulerDeps } from "./scheduler.js";
