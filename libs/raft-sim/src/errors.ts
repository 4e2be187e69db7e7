/**
 * Error catalogue of @tessera/raft-sim. Every error carries a stable `code` so callers and tests
 * assert on codes, not on message wording.
 */

export type SimErrorCode =
  | "TESSERA_E_SIM_INVALID_OPTION"
  | "TESSERA_E_SIM_INVALID_HISTORY"
  | "TESSERA_E_SIM_CLI_USAGE";

export class SimError extends Error {
  constructor(
    readonly code: SimErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "SimError";
  }
}

/** A simulation option is out of range or of the wrong type; `field` names it. */
export class InvalidSimOptionError extends SimError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super("TESSERA_E_SIM_INVALID_OPTION", `invalid simulation option "${field}": ${reason}`);
    this.name = "InvalidSimOptionError";
  }
}

/** An operation handed to the linearizability checker is malformed; `field` names the part. */
export class InvalidHistoryError extends SimError {
  constructor(
    readonly opIndex: number,
    readonly field: string,
    reason: string,
  ) {
    super(
      "TESSERA_E_SIM_INVALID_HISTORY",
      `invalid history: operation #${opIndex} field "${field}": ${reason}`,
    );
    this.name = "InvalidHistoryError";
  }
}

/** A `pnpm sim` command-line flag is unknown, missing its value, or out of range. */
export class CliUsageError extends SimError {
  constructor(
    readonly flag: string,
    reason: string,
  ) {
    super("TESSERA_E_SIM_CLI_USAGE", `${flag}: ${reason}`);
    this.name = "CliUsageError";
  }
}
