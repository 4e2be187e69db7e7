/**
 * Error catalogue of @tessera/raft-storage. Every error thrown at a caller is one of these
 * classes (or the read-side CompactedError / UnavailableError of @tessera/raft), with a stable
 * `code` that hosts and tests match on instead of message text.
 */

/**
 * The write-ahead log holds bytes that cannot be a torn tail: a bad record followed by valid
 * ones, a bad record in a segment that is not the last, a gap in log indices, a bad segment
 * header. Recovery refuses to guess; an operator must restore this member from its peers.
 */
export class WalCorruptionError extends Error {
  readonly code = "TESSERA_E_WAL_CORRUPT";
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`WAL corruption in ${file} at byte offset ${offset}: ${reason}`);
    this.name = "WalCorruptionError";
  }
}

/** A snapshot file fails its checksum or its structure does not match its name. */
export class SnapshotCorruptionError extends Error {
  readonly code = "TESSERA_E_SNAPSHOT_CORRUPT";
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`snapshot file ${file} is corrupt: ${reason}`);
    this.name = "SnapshotCorruptionError";
  }
}

/** A caller passed a value that cannot be valid; `field` names it. Nothing was changed. */
export class LogArgumentError extends Error {
  readonly code = "TESSERA_E_LOG_ARGUMENT";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`invalid argument "${field}": ${reason}`);
    this.name = "LogArgumentError";
  }
}

/** A snapshot not newer than the one already held was offered. */
export class SnapshotOutOfDateError extends Error {
  readonly code = "TESSERA_E_LOG_SNAPSHOT_OUT_OF_DATE";
  constructor(
    readonly index: number,
    readonly currentIndex: number,
  ) {
    super(`snapshot at index ${index} is not newer than the current snapshot at ${currentIndex}`);
    this.name = "SnapshotOutOfDateError";
  }
}

/** The log was closed; open it again to continue. */
export class LogClosedError extends Error {
  readonly code = "TESSERA_E_LOG_CLOSED";
  constructor() {
    super("the log is closed");
    this.name = "LogClosedError";
  }
}

/**
 * An earlier write or fsync failed. After a failed fsync the kernel may have dropped dirty
 * pages, so what is on disk is unknown: the log refuses all further work instead of
 * acknowledging writes it cannot vouch for. Reopen (which re-runs recovery) to continue.
 */
export class LogFailedError extends Error {
  readonly code = "TESSERA_E_LOG_FAILED";
  constructor(override readonly cause: unknown) {
    super(
      `the log failed and refuses further work: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = "LogFailedError";
  }
}

/** Another live process (or this one) already has the log directory open. */
export class LogLockedError extends Error {
  readonly code = "TESSERA_E_LOG_LOCKED";
  constructor(
    readonly dir: string,
    readonly holderPid: number,
  ) {
    super(`log directory ${dir} is already open by process ${holderPid}`);
    this.name = "LogLockedError";
  }
}
