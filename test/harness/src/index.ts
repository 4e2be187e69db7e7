/**
 * @tessera/harness: real servers for tests. nats-server (single or JetStream cluster) as local
 * processes, or as containers when a Docker engine answers (TESSERA_HARNESS forces a mode).
 */
export { registerCleanup } from "./cleanup.js";
export { dockerReachable } from "./docker-detect.js";
export { HarnessError, type HarnessErrorCode } from "./errors.js";
export { FAKE_GCS_IMAGE, FAKE_GCS_UNAVAILABLE, type FakeGcs, startFakeGcs } from "./gcs.js";
export { type HttpsAnswer, httpsGet } from "./https-get.js";
export { resolveMode } from "./mode.js";
export { startNatsCluster, startNatsServer } from "./nats.js";
export type { NatsServerSecurity } from "./nats-config.js";
export { natsServerBinary } from "./nats-process.js";
export { freePort, freePorts } from "./ports.js";
export { type S3rverInstance, type StartS3rverOptions, startS3rver } from "./s3.js";
export { makeTestPki, mutualTls, type TestPki } from "./test-pki.js";
export type {
  HarnessMode,
  NatsCluster,
  NatsNode,
  NatsServer,
  StartNatsClusterOptions,
  StartNatsServerOptions,
} from "./types.js";
export { canConnect, getJsz, metaLeader, sleep, waitFor } from "./wait.js";
