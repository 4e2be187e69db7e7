/**
 * The manifest FSM: the replicated state machine of the consensus service (see README.md).
 * Everything here is pure (no I/O, no clock); the service shell owns processes and networking.
 */

export {
  FeatureLevelError,
  FsmOptionsError,
  FsmSnapshotError,
  ManifestRejection,
} from "./errors.js";
export {
  DEFAULT_FAILURE_DETECTOR_OPTIONS,
  FailureDetector,
  type FailureDetectorOptions,
  phiOf,
  type Suspect,
} from "./failure-detector.js";
export { JOB_STATES, type JobState, TASK_STATES, type TaskStateName } from "./job.js";
export {
  DEFAULT_MANIFEST_LIMITS,
  type JobCounts,
  type JobListFilter,
  type JobView,
  type LiveAttemptView,
  ManifestFsm,
  type ManifestFsmOptions,
  type ManifestLimits,
  type ManifestStats,
  type NodeView,
  type RunnableTask,
  SNAPSHOT_VERSION,
  type TaskView,
} from "./manifest-fsm.js";
export { DEFAULT_SESSION_OPTIONS, type SessionOptions } from "./sessions.js";
