/**
 * @tessera/test-consensus: consensus peers as real processes for the process suites and the
 * consensus benchmarks (bench/src/consensus-*.ts).
 */
export {
  type ClusterView,
  fetchClusterView,
  type LinkFaults,
  parseClusterView,
  putFaults,
} from "./api.js";
export {
  checkExactlyOnce,
  type ExactlyOnceReport,
  type PeerJobs,
  peerJobs,
  waitConverged,
  waitForJetStreamApplied,
} from "./checks.js";
export {
  ConsensusCluster,
  type LeaderInfo,
  type StartClusterOptions,
  type WaitLeaderOptions,
} from "./cluster.js";
export {
  type BadCommand,
  badCommands,
  ClientSession,
  countedJob,
  type Envelope,
  encodeEnvelope,
  NOOP,
  seedOf,
  type TestCommand,
} from "./commands.js";
export {
  CMD_SUBJECT,
  grpcDoor,
  httpDoor,
  jetstreamDoor,
  LeaderGuess,
  msgIdOf,
  OutcomeUnknown,
  parseReply,
} from "./doors.js";
export { ClusterError, type ClusterErrorCode } from "./errors.js";
export {
  type InfoReply,
  ManifestCallError,
  ManifestClients,
  type ProposeReply,
} from "./grpc-client.js";
export { type HttpResult, httpJson } from "./http.js";
export { CONSENSUS_MAIN, PeerProcess } from "./peer-process.js";
export {
  type Door,
  Ledger,
  type LedgerEntry,
  type Reply,
  type Submit,
  type Submitted,
  Writer,
  type WriterOptions,
  waitForProgress,
} from "./workload.js";
