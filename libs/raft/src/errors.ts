/**
 * Error catalogue of @tessera/raft. Every error the core throws at a caller is one of these
 * classes, with a stable `code` that tests and hosts match on instead of message text.
 */

/** A RaftConfig field is missing or out of range. `field` names it. */
export class RaftConfigError extends Error {
  readonly code = "TESSERA_E_RAFT_CONFIG";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`invalid raft config field "${field}": ${reason}`);
    this.name = "RaftConfigError";
  }
}

/**
 * A proposal (normal entry, conf change, or leadership transfer input) was not accepted:
 * no known leader, a leadership transfer is in progress, the uncommitted-size limit is
 * reached, this node was removed, or another conf change is still pending. Nothing was
 * appended; the caller may retry later (typically after a leader is known).
 */
export class ProposalDroppedError extends Error {
  readonly code = "TESSERA_E_RAFT_PROPOSAL_DROPPED";
  constructor(readonly reason: string) {
    super(`raft proposal dropped: ${reason}`);
    this.name = "ProposalDroppedError";
  }
}

/**
 * An internal safety invariant was about to be violated (e.g. truncating a committed entry,
 * the commit index moving backwards). This always indicates a bug or a host that broke the
 * contract (e.g. lost persisted state); the node must stop rather than continue unsafely.
 */
export class RaftInvariantError extends Error {
  readonly code = "TESSERA_E_RAFT_INVARIANT";
  constructor(message: string) {
    super(`raft invariant violated: ${message}`);
    this.name = "RaftInvariantError";
  }
}

/** Bytes that should hold an encoded value (conf change, session table) are malformed. */
export class RaftDecodeError extends Error {
  readonly code = "TESSERA_E_RAFT_DECODE";
  constructor(
    readonly what: string,
    readonly reason: string,
  ) {
    super(`cannot decode ${what}: ${reason}`);
    this.name = "RaftDecodeError";
  }
}

/** A host called the API with an argument that cannot be valid (e.g. an unknown node id). */
export class RaftArgumentError extends Error {
  readonly code = "TESSERA_E_RAFT_ARGUMENT";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`invalid argument "${field}": ${reason}`);
    this.name = "RaftArgumentError";
  }
}

/** A snapshot older than the one already held was offered to storage. */
export class SnapshotOutOfDateError extends Error {
  readonly code = "TESSERA_E_RAFT_SNAPSHOT_OUT_OF_DATE";
  constructor(
    readonly index: number,
    readonly currentIndex: number,
  ) {
    super(`snapshot at index ${index} is not newer than the current snapshot at ${currentIndex}`);
    this.name = "SnapshotOutOfDateError";
  }
}
