import { RaftConfigError } from "./errors.js";
import { NONE, type NodeId } from "./types.js";

/**
 * How a leader serves ReadIndex requests (etcd's ReadOnlyOption).
 * - "safe": confirm leadership with a heartbeat round to a quorum for every batch of reads.
 * - "lease-based": trust the check-quorum lease instead (no round trip, but depends on bounded
 *   clock drift between nodes, which a deterministic tick model cannot guarantee). Requires
 *   checkQuorum.
 */
export type ReadOnlyOption = "safe" | "lease-based";

export interface RaftConfig {
  /** This node's id; must be non-zero. */
  id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns. Default 10. */
  electionTick?: number;
  /** Ticks between leader heartbeats; must be < electionTick. Default 1. */
  heartbeatTick?: number;
  /**
   * Seeded source of randomness in [0, 1), used only for the randomized election timeout.
   * Injected so that a simulation run is exactly reproducible from its seed.
   */
  random: () => number;
  /** Run a pre-vote round before incrementing the term (dissertation §9.6). Default true. */
  preVote?: boolean;
  /** Leader steps down without a quorum of recent contact; voters honour a leader lease. Default true. */
  checkQuorum?: boolean;
  /** Max total entry bytes per append message (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsg?: number;
  /** Max append messages in flight to one follower in Replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Max total bytes of uncommitted entries the leader accepts; 0 = unlimited. Default 0. */
  maxUncommittedEntriesSize?: number;
  /** Max total committed entry bytes handed out per Ready (at least one). Default unlimited. */
  maxCommittedSizePerReady?: number;
  /** Snapshot bytes per InstallSnapshot chunk message. Default 512 KiB. */
  snapshotChunkSize?: number;
  /** Index already applied by the host's state machine at restart. Default 0. */
  applied?: number;
  /** Default "safe". */
  readOnlyOption?: ReadOnlyOption;
}

/** A RaftConfig with every default filled in. */
export interface ResolvedRaftConfig {
  readonly id: NodeId;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly random: () => number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly maxUncommittedEntriesSize: number;
  readonly maxCommittedSizePerReady: number;
  readonly snapshotChunkSize: number;
  readonly applied: number;
  readonly readOnlyOption: ReadOnlyOption;
}

function positiveInt(field: string, v: number): number {
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new RaftConfigError(field, `must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function nonNegativeInt(field: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RaftConfigError(field, `must be a non-negative integer, got ${String(v)}`);
  }
  return v;
}

function bool(field: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean")
    throw new RaftConfigError(field, `must be a boolean, got ${typeof v}`);
  return v;
}

/** Validates a config and fills in defaults. Throws RaftConfigError naming the bad field. */
export function resolveConfig(c: RaftConfig): ResolvedRaftConfig {
  if (c === null || typeof c !== "object") throw new RaftConfigError("config", "must be an object");
  if (!Number.isSafeInteger(c.id) || c.id <= NONE) {
    throw new RaftConfigError(
      "id",
      `must be a positive integer (0 means "none"), got ${String(c.id)}`,
    );
  }
  if (typeof c.random !== "function") {
    throw new RaftConfigError("random", "must be a function returning a number in [0, 1)");
  }
  const electionTick = positiveInt("electionTick", c.electionTick ?? 10);
  const heartbeatTick = positiveInt("heartbeatTick", c.heartbeatTick ?? 1);
  if (electionTick <= heartbeatTick) {
    throw new RaftConfigError(
      "electionTick",
      `must be greater than heartbeatTick (${heartbeatTick}), got ${electionTick}`,
    );
  }
  const checkQuorum = bool("checkQuorum", c.checkQuorum, true);
  const readOnlyOption = c.readOnlyOption ?? "safe";
  if (readOnlyOption !== "safe" && readOnlyOption !== "lease-based") {
    throw new RaftConfigError(
      "readOnlyOption",
      `must be "safe" or "lease-based", got ${String(readOnlyOption)}`,
    );
  }
  if (readOnlyOption === "lease-based" && !checkQuorum) {
    throw new RaftConfigError("readOnlyOption", `"lease-based" requires checkQuorum`);
  }
  return {
    id: c.id,
    electionTick,
    heartbeatTick,
    random: c.random,
    preVote: bool("preVote", c.preVote, true),
    checkQuorum,
    maxSizePerMsg: positiveInt("maxSizePerMsg", c.maxSizePerMsg ?? 1024 * 1024),
    maxInflightMsgs: positiveInt("maxInflightMsgs", c.maxInflightMsgs ?? 256),
    maxUncommittedEntriesSize: nonNegativeInt(
      "maxUncommittedEntriesSize",
      c.maxUncommittedEntriesSize ?? 0,
    ),
    maxCommittedSizePerReady: positiveInt(
      "maxCommittedSizePerReady",
      c.maxCommittedSizePerReady ?? Number.MAX_SAFE_INTEGER,
    ),
    snapshotChunkSize: positiveInt("snapshotChunkSize", c.snapshotChunkSize ?? 512 * 1024),
    applied: nonNegativeInt("applied", c.applied ?? 0),
    readOnlyOption,
  };
}
