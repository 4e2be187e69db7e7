/**
 * The Raft peer host. Start one with `RaftPeer.start(options)` (see raft-peer.ts for the
 * options, bootstrap/join rules and error types); the service shell uses it through
 * RaftPeerApi (types.ts).
 */

// What a caller needs to build the shared server and to drive fault injection.
export type { FaultsConfig, LinkFaults } from "../transport/faults.js";
export { RAFT_GRPC_OPTIONS } from "../transport/raft-service.js";
export {
  NotLeaderError,
  PeerArgumentError,
  PeerStoppedError,
  PeerTimeoutError,
  ProposalLostError,
  ProposalRejectedError,
  SnapshotEnvelopeError,
} from "./errors.js";
export { createRaftMetrics, RAFT_METRIC_NAMES, type RaftMetrics } from "./metrics.js";
export { RaftPeer, type RaftPeerOptions, type RaftPeerStats } from "./raft-peer.js";
export { DEFAULT_TIMING, type RaftTiming, resolveTiming } from "./timing.js";
export type {
  PeerAddress,
  PeerRole,
  PeerStatus,
  ProposeResult,
  RaftPeerApi,
  RaftPeerEvents,
} from "./types.js";
