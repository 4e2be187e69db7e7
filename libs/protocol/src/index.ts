/**
 * @tessera/protocol: every message Tessera sends, its JSON Schema (TypeBox, reusable by
 * fastify), validation with field-level reasons, and the stream/subject catalogue.
 */

export {
  agentDurableName,
  assertSubjectToken,
  CMD_STREAM,
  completionMsgId,
  EVENTS_STREAM,
  eventSubject,
  heartbeatSubject,
  LOGS_STREAM,
  type LogLevelName,
  logSubject,
  type RetentionKind,
  STREAMS,
  type StreamSpec,
  SUBJECT_ROOT,
  SUBJECTS,
  WORK_CONSUMER_DEFAULTS,
  WORK_STREAM,
  type WorkKind,
  workItemMsgId,
  workPoolFilter,
  workSubject,
} from "./catalogue.js";
export {
  ProtocolDecodeError,
  ProtocolError,
  ProtocolValidationError,
  SubjectTokenError,
  type ValidationIssue,
} from "./errors.js";
export {
  completionCodec,
  decodeCompletion,
  decodeHeartbeat,
  decodeWorkItem,
  encodeCompletion,
  encodeHeartbeat,
  encodeWorkItem,
  heartbeatCodec,
  jobSpecCodec,
  parseJobSpec,
  workItemCodec,
} from "./messages.js";
export { expectedTaskId, isPowerOfTwo, workItemId } from "./rules.js";
export {
  Completion,
  CompletionError,
  CompletionOutput,
  CompletionTimings,
  CompletionV1,
} from "./schemas/completion.js";
export {
  Heartbeat,
  HeartbeatV1,
  NodeCapacity,
  NodeLabels,
  RunningTask,
} from "./schemas/heartbeat.js";
export { MAX_N, MAX_TILE, MatmulJobSpec, MIN_TILE } from "./schemas/job-spec.js";
export { WorkItem, WorkItemV1 } from "./schemas/work-item.js";
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  decodeJson,
  defineSchemaCodec,
  defineVersionedCodec,
  type MessageCodec,
  type Rules,
  type ValidationResult,
} from "./validator.js";
