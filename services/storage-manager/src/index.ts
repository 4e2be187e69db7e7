/**
 * @tessera/storage-manager: checks every reported output against storage, verifies finished jobs
 * (Freivalds + output digest) and proposes the verdict, cleans intermediate partials.
 */
export {
  type CheckMode,
  parseStorageManagerConfig,
  STORAGE_MANAGER_ENV,
  STORAGE_MANAGER_USAGE,
  type StorageManagerConfig,
} from "./config.js";
export { StorageManagerError, StorageManagerErrorCode } from "./errors.js";
export { jobSummary, StorageManager } from "./manager.js";
export { CommandProposer, encodeProposal, proposalSubject } from "./proposer.js";
export {
  checkOutput,
  deletePartials,
  type JobVerification,
  TransientStorageError,
  verifyJobOutputs,
} from "./storage-ops.js";
export {
  type Action,
  decideOutputCheck,
  decideVerdict,
  JobTracker,
  keyOfTask,
  type OutputCheck,
  type OutputRecord,
  type Proposal,
  type TrackedJob,
  tileFileBytes,
} from "./tracker.js";
