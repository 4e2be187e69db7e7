/**
 * @tessera/test-e2e: a whole local cluster as real processes (the CLI's DevCluster plus
 * per-process SIGKILL / restart), jobs through the `tessera` CLI, reference digests, event
 * history, and storage corruption — for the end-to-end/chaos suites and the e2e benchmarks.
 */
export {
  apiFetch,
  apiHeaders,
  E2eCluster,
  type E2eClusterOptions,
  E2eError,
  type ProcessKind,
  pidAlive,
} from "./cluster.js";
export { CompletionWatcher } from "./completions.js";
export {
  type CliRun,
  cliMain,
  getJob,
  type JobCountsView,
  type JobEvent,
  type JobViewLite,
  jobControl,
  jobEvents,
  natsTarget,
  natsUrls,
  referenceDigest,
  runCli,
  type SubmitResult,
  submitViaCli,
  waitJob,
} from "./jobs.js";
export { connectTo, type NatsAt, type NatsTarget } from "./nats-target.js";
export { flipByte, slowAgentEnv, slowStoragePreload, storedTiles } from "./storage.js";
