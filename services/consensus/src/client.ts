/**
 * @tessera/consensus/client: only the typed Manifest client, for processes that talk to the
 * consensus service (the scheduler) without running a peer. The package root also loads the FSM,
 * the Raft peer and the HTTP server, which a restarted scheduler would load before it places any
 * work (2-core box: importing the root took 429–506 ms, this 196–247 ms; the scheduler's whole
 * start-up to `--help`, most of its modules shared, 0.53–0.66 vs 0.52–0.58 s).
 */

export {
  type ApiFetch,
  type ApiRequest,
  type ApiResponse,
  apiFetcher,
  fetchFailureReason,
} from "./api/api-fetch.js";
export { ServiceError, ServiceErrorCode } from "./api/errors.js";
export {
  ManifestClient,
  type ManifestClientOptions,
  type ProposeResponse,
  type WatchedBatch,
} from "./api/manifest-client.js";
export type { ReplyJson } from "./api/proposer.js";
export { type ClusterTls, clusterChannel, loadClusterTls } from "./transport/cluster-tls.js";
