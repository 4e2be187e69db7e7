/** @tessera/cli: the `tessera` command's building blocks (dev cluster, client, job waiting). */
export { type DevUpArgs, parseDevUpArgs, parseMatmulArgs } from "./args.js";
export { apiCa, apiToken, CliError, ClusterClient, parseServers } from "./client.js";
export { type ClusterStatus, type PeerStatus, readClusterStatus } from "./cluster-view.js";
export { loadJobProfile, resolveServers, waitForJob } from "./commands.js";
export {
  DEV_STATE_FILE,
  DevCluster,
  type DevClusterInfo,
  type DevClusterOptions,
  type DevState,
  defaultDataDir,
  readDevState,
} from "./dev-cluster.js";
export {
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportReport,
  exportJobResult,
} from "./job-export.js";
export type { JobProfile } from "./job-profile.js";
export {
  bytesMoved,
  jobProgress,
  progressLine,
  type SubmitSummary,
  submitSummary,
} from "./job-view.js";
export { type VerifyReport, verifyJobInStorage } from "./verify.js";
