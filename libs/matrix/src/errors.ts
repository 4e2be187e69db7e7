/**
 * Error catalogue of @tessera/matrix. Every error thrown by this package is a `MatrixError`
 * with a stable `code`, so callers (and tests) branch on codes, never on message text.
 */
export const MatrixErrorCode = {
  /** A job spec field is missing, of the wrong type, or out of range. */
  JobSpecInvalid: "TESSERA_E_MATRIX_JOB_SPEC",
  /** A task id string does not parse, or names a tile outside the job's grid. */
  TaskIdInvalid: "TESSERA_E_MATRIX_TASK_ID",
  /** A task ordinal or tile coordinate is outside the plan. */
  TaskOutOfRange: "TESSERA_E_MATRIX_TASK_RANGE",
  /** A job id cannot be used inside a storage key. */
  JobIdInvalid: "TESSERA_E_MATRIX_JOB_ID",
  /** A buffer is shorter than a tile header, or than header + payload. */
  TileTruncated: "TESSERA_E_TILE_TRUNCATED",
  /** The first four bytes are not "TSRT". */
  TileMagic: "TESSERA_E_TILE_MAGIC",
  /** The format version (or header length) is not one this build reads. */
  TileVersion: "TESSERA_E_TILE_VERSION",
  /** Unknown dtype or mode byte, non-zero reserved bytes. */
  TileHeader: "TESSERA_E_TILE_HEADER",
  /** rows/cols are zero or disagree with the payload size or with what the caller expected. */
  TileShape: "TESSERA_E_TILE_SHAPE",
  /** The buffer has bytes after the payload. */
  TileLength: "TESSERA_E_TILE_LENGTH",
  /** The header's own CRC32C does not match. */
  TileHeaderChecksum: "TESSERA_E_TILE_HEADER_CHECKSUM",
  /** The payload CRC32C does not match the header. */
  TileChecksum: "TESSERA_E_TILE_CHECKSUM",
  /** An argument to a matrix routine has the wrong size or shape. */
  ArgumentInvalid: "TESSERA_E_MATRIX_ARGUMENT",
} as const;

export type MatrixErrorCode = (typeof MatrixErrorCode)[keyof typeof MatrixErrorCode];

export class MatrixError extends Error {
  readonly code: MatrixErrorCode;
  constructor(code: MatrixErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A job spec is invalid; `field` is the JSON-pointer-like path of the offending field. */
export class JobSpecError extends MatrixError {
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string) {
    super(MatrixErrorCode.JobSpecInvalid, `job spec: ${field}: ${reason}`);
    this.field = field;
    this.reason = reason;
  }
}

export class TaskIdError extends MatrixError {
  readonly taskId: string;
  constructor(taskId: string, reason: string) {
    super(MatrixErrorCode.TaskIdInvalid, `task id ${JSON.stringify(taskId)}: ${reason}`);
    this.taskId = taskId;
  }
}

/** A tile buffer is malformed (anything except a checksum mismatch). */
export class TileFormatError extends MatrixError {}

/** A tile's header or payload CRC32C does not match its bytes. */
export class TileChecksumError extends MatrixError {
  readonly expected: string;
  readonly actual: string;
  constructor(code: MatrixErrorCode, what: string, expected: string, actual: string) {
    super(code, `tile ${what} checksum mismatch: header says ${expected}, bytes hash to ${actual}`);
    this.expected = expected;
    this.actual = actual;
  }
}
