/**
 * @tessera/raft-storage: durable storage for the Raft core of @tessera/raft.
 *
 * DurableLog is a segmented write-ahead log (CRC32C per record, group-committed fsync,
 * truncation on conflict, torn-tail recovery) plus atomic snapshot files; MemoryLog has the
 * same API without files. Both implement RaftStorage, the read interface the core consults.
 */
export { DurableLog, type DurableLogOptions, type RecoveryReport } from "./durable-log.js";
export {
  LogArgumentError,
  LogClosedError,
  LogFailedError,
  LogLockedError,
  SnapshotCorruptionError,
  SnapshotOutOfDateError,
  WalCorruptionError,
} from "./errors.js";
export { MemoryLog } from "./memory-log.js";
export type { LogBatch, RaftLog, WriteOptions } from "./raft-log.js";
export type { TornTail } from "./wal/recovery.js";
