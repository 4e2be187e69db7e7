import { PeerArgumentError } from "./errors.js";

/**
 * Timing and sizing of a RaftPeer. Defaults aim at the issue's failover target (median ≤ 500
 * ms, max ≤ 1 s from leader loss to a new leader) while staying quiet under 30 ± 5 ms one-way
 * link delay:
 *
 * - tick 25 ms, heartbeat every 2 ticks (50 ms), election timeout randomized in [10, 20) ticks
 *   = [250, 500) ms. The first of two followers to time out campaigns after ~330 ms on
 *   median; pre-vote and vote cost 2 RTTs. With 30 ms one-way delay a follower still gets
 *   ~5 heartbeats per minimum timeout, so no spurious elections.
 * - A fine tick (25 rather than 50 ms) narrows the window where followers' tick phases differ
 *   and a lease (check-quorum) makes one reject another's pre-vote, which costs a whole extra
 *   timeout when it happens.
 */
export interface RaftTiming {
  /** Milliseconds per logical tick. */
  readonly tickMs: number;
  /** Election timeout in ticks (randomized per term in [electionTick, 2 × electionTick)). */
  readonly electionTick: number;
  /** Heartbeat interval in ticks. */
  readonly heartbeatTick: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Take an FSM snapshot and compact the log every this many applied entries. */
  readonly snapshotEvery: number;
  /** Entries kept behind a snapshot so a briefly lagging follower needs no snapshot. */
  readonly snapshotKeep: number;
  /** A proposal not applied within this long rejects with ProposalLostError (outcome unknown). */
  readonly proposalTimeoutMs: number;
  /** A read barrier not served within this long rejects with PeerTimeoutError. */
  readonly readTimeoutMs: number;
  /** A leadership transfer not done within this long rejects with PeerTimeoutError. */
  readonly transferTimeoutMs: number;
  /** addPeer: how long a learner may take to catch up before promotion is abandoned. */
  readonly catchUpTimeoutMs: number;
  /** Raft core sizing (see @tessera/raft RaftConfig). */
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly snapshotChunkSize: number;
  readonly maxCommittedSizePerReady: number;
}

export const DEFAULT_TIMING: RaftTiming = Object.freeze({
  tickMs: 25,
  electionTick: 10,
  heartbeatTick: 2,
  preVote: true,
  checkQuorum: true,
  snapshotEvery: 10_000,
  snapshotKeep: 2_000,
  proposalTimeoutMs: 10_000,
  readTimeoutMs: 5_000,
  transferTimeoutMs: 2_000,
  catchUpTimeoutMs: 60_000,
  maxSizePerMsg: 1024 * 1024,
  maxInflightMsgs: 256,
  snapshotChunkSize: 512 * 1024,
  maxCommittedSizePerReady: 16 * 1024 * 1024,
});

export function resolveTiming(t: Partial<RaftTiming> | undefined): RaftTiming {
  const out = { ...DEFAULT_TIMING, ...(t ?? {}) };
  for (const [k, v] of Object.entries(out)) {
    if (k === "preVote" || k === "checkQuorum") {
      if (typeof v !== "boolean") throw new PeerArgumentError(`timing.${k}`, "must be a boolean");
      continue;
    }
    const min = k === "snapshotKeep" ? 0 : 1;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new PeerArgumentError(`timing.${k}`, `must be an integer >= ${min}, got ${String(v)}`);
    }
  }
  if (out.heartbeatTick >= out.electionTick) {
    throw new PeerArgumentError("timing.electionTick", "must be greater than heartbeatTick");
  }
  return Object.freeze(out);
}
