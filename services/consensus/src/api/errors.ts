// Error catalogue of the consensus service shell (config, API, ingestion). Codes, not message
// text, are what clients and tests match on; HTTP bodies and gRPC metadata carry them.
export const ServiceErrorCode = {
  /** A flag, config-file field or environment variable is missing or malformed. */
  Config: "TESSERA_E_CONSENSUS_CONFIG",
  /** This peer is not the leader; the error carries the leader's address when known. */
  NotLeader: "TESSERA_E_CONSENSUS_NOT_LEADER",
  /** A request body / command envelope failed validation. */
  BadRequest: "TESSERA_E_CONSENSUS_BAD_REQUEST",
  /** The thing asked for does not exist (job, node, peer). */
  NotFound: "TESSERA_E_CONSENSUS_NOT_FOUND",
  /** The call did not finish in time (the command's outcome is unknown; retry with the same seq). */
  Timeout: "TESSERA_E_CONSENSUS_TIMEOUT",
  /** No peer answered / no leader is known. */
  Unavailable: "TESSERA_E_CONSENSUS_UNAVAILABLE",
  /** Watch asked for an index that is no longer in this peer's event ring. */
  OutOfRange: "TESSERA_E_CONSENSUS_OUT_OF_RANGE",
  /** A peer too old for the manifest's committed feature level (it could not apply the log). */
  FeatureLevel: "TESSERA_E_CONSENSUS_FEATURE_LEVEL",
  /** An HTTP API request without this cluster's bearer token (`--api-token-file`). */
  Unauthorized: "TESSERA_E_CONSENSUS_UNAUTHORIZED",
  /** The service is shutting down. */
  Stopping: "TESSERA_E_CONSENSUS_STOPPING",
  /** Something failed that has no code of its own (a bug): the message says what. */
  Internal: "TESSERA_E_CONSENSUS_INTERNAL",
} as const;

export type ServiceErrorCode = (typeof ServiceErrorCode)[keyof typeof ServiceErrorCode];

/** Where the leader can be reached (both addresses, when this peer knows them). */
export interface LeaderHint {
  readonly id: number;
  /** host:port of the leader's gRPC server. */
  readonly grpc?: string | undefined;
  /** http://host:port of the leader's HTTP API. */
  readonly http?: string | undefined;
}

export class ServiceError extends Error {
  readonly code: ServiceErrorCode;
  readonly leader: LeaderHint | undefined;

  constructor(
    code: ServiceErrorCode,
    message: string,
    options?: { cause?: unknown; leader?: LeaderHint | undefined },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ServiceError";
    this.code = code;
    this.leader = options?.leader;
  }
}

/** A file named by a flag is unusable: the start fails naming the flag (a Config error). */
export function flagFailure(flag: string, reason: string, cause?: unknown): never {
  throw new ServiceError(
    ServiceErrorCode.Config,
    `--${flag}: ${reason}`,
    cause === undefined ? undefined : { cause },
  );
}
