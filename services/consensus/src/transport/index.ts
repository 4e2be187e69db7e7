export { CODEC_VERSION, decodeMessage, encodeMessage } from "./codec.js";
export { RaftCodecError, TransportArgumentError } from "./errors.js";
export {
  DelayQueue,
  type FaultsConfig,
  isFaultFree,
  type LinkFaults,
  NO_FAULTS,
  nextDueTime,
  resolveFaults,
  resolveFaultsConfig,
} from "./faults.js";
export {
  type DropReason,
  type LinkStats,
  type PeerLinkAddress,
  PeerTransport,
  type PeerTransportOptions,
} from "./peer-transport.js";
export {
  type MessageBatchWire,
  RAFT_GRPC_OPTIONS,
  RAFT_PROTO_PATH,
  RAFT_SERVICE_NAME,
  raftServiceDefinition,
} from "./raft-service.js";
