/**
 * @tessera/raft-sim — deterministic simulation testing for @tessera/raft.
 *
 * - runSeed / runSweep: one seed (or a range) = one exact run of a faulty cluster, with the Raft
 *   safety invariants checked at every Ready and linearizability checked at the end.
 * - Cluster: the same machinery, driven by hand (the named scenarios use it).
 * - checkKvHistory / checkPartition: a Wing–Gong/Porcupine linearizability checker.
 */

export { type CliArgs, parseArgs } from "./cli/args.js";
export { type CliIo, runCli } from "./cli/main.js";
export {
  CliUsageError,
  InvalidHistoryError,
  InvalidSimOptionError,
  SimError,
  type SimErrorCode,
} from "./errors.js";
export {
  checkKvHistory,
  type KvCheckResult,
  type KvOperation,
} from "./linearizability/check-kv.js";
export { type CheckOptions, checkPartition } from "./linearizability/checker.js";
export type {
  LinearizabilityExplanation,
  Model,
  Operation,
  PartitionResult,
  Verdict,
} from "./linearizability/history.js";
export {
  applyKv,
  type KvInput,
  type KvOutput,
  type KvRegister,
  kvRegisterModel,
} from "./linearizability/kv-model.js";
export { Rng } from "./rng.js";
export {
  Cluster,
  type ClusterOptions,
  DEFAULT_CLIENT_SETTINGS,
  DEFAULT_NODE_SETTINGS,
} from "./sim/cluster.js";
export { drawProfile, type FaultProfile } from "./sim/fault-profile.js";
export { type InvariantName, InvariantViolation } from "./sim/invariants.js";
export { type LinkFaults, SimNetwork } from "./sim/network.js";
export { runSeed, type SeedOptions, type SeedResult, type SimFailure } from "./sim/run-seed.js";
export { CRASH_POINTS, type CrashPoint, type NodeSettings, SimNode } from "./sim/sim-node.js";
export { mergeSummaries, runSweep, type SweepOptions, type SweepSummary } from "./sweep.js";
