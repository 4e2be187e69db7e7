/**
 * @tessera/consensus: Raft peers over gRPC holding the Global Task Manifest, fed by JetStream.
 * The process is `dist/main.js` (tessera-consensus); this module is what tests, benchmarks and
 * the CLI import: the typed Manifest client, the config parser, and the in-process service.
 */
export type { FaultsAdmin, ServiceContext } from "./api/context.js";
export type { LeaderHint } from "./api/errors.js";
export {
  MANIFEST_PROTO_PATH,
  MANIFEST_SERVICE_NAME,
  META as MANIFEST_GRPC_METADATA,
  manifestServiceDefinition,
} from "./api/manifest-grpc.js";
export { ConsensusMetrics } from "./api/metrics.js";
export { ProposeStream } from "./api/propose-stream.js";
export { parseReply } from "./api/proposer.js";
export { type Consistency, type ManifestQuery, parseQuery } from "./api/queries.js";
export { type ServiceHandle, startConsensusService } from "./api/service.js";
// ManifestClient, its options and replies, ServiceError (also alone: @tessera/consensus/client).
export * from "./client.js";
export {
  CONSENSUS_USAGE,
  type ConsensusConfig,
  type LinkFaults,
  type PeerConfig,
  parseConsensusConfig,
} from "./config.js";
export { type EventBatchRecord, EventRing, eventBatchRecord } from "./ingest/event-ring.js";
export type {
  ApplyOutcome,
  CommittedCommand,
  ManifestEventOut,
  StateMachine,
} from "./state-machine.js";
