export {
  type ConfChange,
  ConfChangeType,
  decodeConfChange,
  encodeConfChange,
} from "./conf-change.js";
export { type RaftConfig, type ReadOnlyOption, resolveConfig } from "./config.js";
export * from "./errors.js";
export { MemoryStorage } from "./memory-storage.js";
export { type Message, MessageType, newMessage, type SnapshotChunk } from "./message.js";
export { RawNode } from "./raw-node.js";
export {
  type MessageSplit,
  type ProgressStateName,
  type ProgressStatus,
  type ReadState,
  type Ready,
  type SoftState,
  StateType,
  type Status,
  splitLeaderMessages,
} from "./ready.js";
export {
  type ApplyResult,
  ClientSessionTable,
  type ResponseCodec,
  type SessionTableOptions,
} from "./session.js";
export * from "./storage.js";
export * from "./types.js";
