/**
 * Error catalogue of the peer transport. Every error carries a stable `code` (TESSERA_E_*) so
 * callers and tests match on codes, not message text.
 */

/** Bytes from the network that should hold an encoded raft Message are malformed. */
export class RaftCodecError extends Error {
  readonly code = "TESSERA_E_RAFT_CODEC";
  constructor(
    /** The field being read when decoding failed. */
    readonly field: string,
    /** Byte offset in the encoded message. */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`cannot decode raft message field "${field}" at byte ${offset}: ${reason}`);
    this.name = "RaftCodecError";
  }
}

/** A transport option or fault setting is out of range. `field` names it. */
export class TransportArgumentError extends Error {
  readonly code = "TESSERA_E_TRANSPORT_ARGUMENT";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`invalid transport argument "${field}": ${reason}`);
    this.name = "TransportArgumentError";
  }
}
