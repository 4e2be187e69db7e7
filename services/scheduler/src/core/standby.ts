// Warm standby: which standby agents may replace a node that failed, best first.
//
// A standby agent heartbeats `state: "standby"` and offers 0 slots (so no scheduler counts it as
// capacity) until it is promoted. When an active node of a pool fails, the scheduler asks the
// pool's standbys, in this order, to promote themselves until one says it is active. The order
// is deterministic so that two scheduler instances reacting to the same failure ask the same
// standby first (promotion is idempotent: the second request finds it active already).

export interface StandbyNode {
  readonly nodeId: string;
  readonly pool: string;
  readonly cloud: string;
  readonly region: string;
  /** When its last heartbeat (saying standby) arrived, ms. */
  readonly seenAt: number;
}

export interface FailedNode {
  readonly nodeId: string;
  readonly pool: string;
  readonly cloud: string;
  readonly region: string;
  /** Slots it offered: a node that offered none (a standby, a draining agent) needs no stand-in. */
  readonly slots: number;
}

/**
 * Standbys of the failed node's pool heard from within `maxSilenceMs`, nearest first (same
 * cloud and region, then same cloud, then any), ties by node id. Empty when the failed node
 * offered no capacity.
 */
export function standbyCandidates(
  failed: FailedNode,
  standbys: Iterable<StandbyNode>,
  now: number,
  maxSilenceMs: number,
): string[] {
  if (failed.slots <= 0) return [];
  const distance = (s: StandbyNode) =>
    s.cloud !== failed.cloud ? 2 : s.region !== failed.region ? 1 : 0;
  return [...standbys]
    .filter(
      (s) => s.pool === failed.pool && s.nodeId !== failed.nodeId && now - s.seenAt <= maxSilenceMs,
    )
    .sort((a, b) => distance(a) - distance(b) || (a.nodeId < b.nodeId ? -1 : 1))
    .map((s) => s.nodeId);
}
