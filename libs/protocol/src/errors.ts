/**
 * Error catalogue of @tessera/protocol. Consumers match on `code`, never on message text.
 * Every error here means "this message is bad and will stay bad": a consumer terminates it
 * instead of redelivering it.
 */

/** One reason a message was rejected: a JSON pointer into the message and why. */
export interface ValidationIssue {
  /** JSON pointer of the offending field ("" for the message itself), e.g. `/job/tile`. */
  readonly path: string;
  /** Human-readable reason, e.g. `must be a power of two between 16 and 8192`. */
  readonly reason: string;
}

/** Base class of every protocol error, so callers can catch "any bad message" at once. */
export abstract class ProtocolError extends Error {
  abstract readonly code: string;
}

/** A decoded value does not satisfy its schema or a cross-field rule. */
export class ProtocolValidationError extends ProtocolError {
  readonly code = "TESSERA_E_PROTOCOL_INVALID";
  constructor(
    /** What was being validated, e.g. `work item`. */
    readonly what: string,
    /** Every issue found; never empty. The message names the first. */
    readonly issues: readonly ValidationIssue[],
  ) {
    const first = issues[0] ?? { path: "", reason: "invalid" };
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
    super(`${what}: ${first.path || "/"}: ${first.reason}${more}`);
    this.name = "ProtocolValidationError";
  }
}

/** The bytes are not a message at all: not UTF-8 JSON, or larger than the size limit. */
export class ProtocolDecodeError extends ProtocolError {
  readonly code: "TESSERA_E_PROTOCOL_MALFORMED" | "TESSERA_E_PROTOCOL_TOO_LARGE";
  constructor(
    readonly what: string,
    readonly reason: string,
    code:
      | "TESSERA_E_PROTOCOL_MALFORMED"
      | "TESSERA_E_PROTOCOL_TOO_LARGE" = "TESSERA_E_PROTOCOL_MALFORMED",
  ) {
    super(`${what}: ${reason}`);
    this.code = code;
    this.name = "ProtocolDecodeError";
  }
}

/** A subject token (pool, node id, service, level) would break the subject hierarchy. */
export class SubjectTokenError extends ProtocolError {
  readonly code = "TESSERA_E_PROTOCOL_SUBJECT";
  constructor(
    readonly field: string,
    readonly value: string,
  ) {
    super(
      `subject token ${field}: ${JSON.stringify(value)} must be 1..64 chars of [A-Za-z0-9_-] (no dots, wildcards or spaces)`,
    );
    this.name = "SubjectTokenError";
  }
}
