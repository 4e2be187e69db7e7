/**
 * @tessera/messaging: NATS connections, idempotent JetStream provisioning from the protocol
 * catalogue, publish with dedup ids, and validated consumption with explicit acks.
 */

export {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
export {
  type ConnectOptions,
  closeGracefully,
  connect,
  type NatsConnection,
  onReconnect,
} from "./connection.js";
export {
  type ConsumeOptions,
  type ConsumerHandle,
  type ConsumerStats,
  consume,
} from "./consume.js";
export {
  type DurableConsumerOptions,
  durableConsumerConfig,
  ensureDurableConsumer,
  workConsumerOptions,
} from "./consumers.js";
export { MessagingError, type MessagingErrorCode } from "./errors.js";
export { type BoundedFetchOptions, fetchWithDeadline, nextWithDeadline } from "./fetch.js";
export {
  InterimReplies,
  type InterimRequestOptions,
  type InterimRequestOutcome,
} from "./interim-replies.js";
export { ServiceLogging, type ServiceLoggingOptions } from "./log-shipping.js";
export { type NatsSecurityOptions, natsSecurityOptions } from "./nats-security.js";
export {
  type ProvisionOptions,
  type ProvisionResult,
  provisionStreams,
  streamConfigDiff,
  streamConfigFor,
} from "./provision.js";
export {
  type PublishOptions,
  type PublishResult,
  publishWithDedup,
  WRONG_LAST_SEQUENCE,
} from "./publish.js";
export { isTransientApiError, jetstreamManagerWhenReady } from "./transient.js";
export type { WorkContext } from "./work-context.js";
