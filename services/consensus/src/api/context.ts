// What the client APIs (gRPC Manifest, HTTP) share: the peer, the proposer, the read model, the
// event ring and the leader directory. One object so both doors behave identically.
import type { Logger } from "@tessera/observability";
import type { PeerConfig } from "../config.js";
import type { EventRing } from "../ingest/event-ring.js";
import type { RaftPeerApi } from "../peer/types.js";
import { ServiceError, ServiceErrorCode } from "./errors.js";
import type { LeaderDirectory } from "./leader.js";
import type { ConsensusMetrics } from "./metrics.js";
import type { Proposer } from "./proposer.js";
import type { Consistency, ManifestReadModel } from "./queries.js";

/** Run-time fault injection on the peer links (implemented by the peer transport). */
export interface FaultsAdmin {
  /** Current settings: the default and every link's effective faults. */
  get(): unknown;
  /**
   * Applies `{default?: {delayMs, jitterMs, lossRate}, links?: {"<peerId>": {...}}}`; throws an
   * error naming the bad field (mapped to 400).
   */
  set(body: unknown): unknown;
}

export interface ServiceContext {
  readonly self: PeerConfig;
  readonly peer: RaftPeerApi;
  readonly proposer: Proposer;
  readonly directory: LeaderDirectory;
  readonly readModel: ManifestReadModel;
  readonly ring: EventRing;
  readonly metrics: ConsensusMetrics;
  readonly logger: Logger;
  readonly faults: FaultsAdmin | undefined;
  /** Lowest index from which the ring holds every event batch (Watch below it: OUT_OF_RANGE). */
  readonly ringCoveredFrom: () => number;
  /** NATS: "off" (no --nats), "connecting", or "ready" (connected, streams provisioned). */
  readonly natsState: () => "off" | "connecting" | "ready";
}

/**
 * Waits until a read at `consistency` may be served from the local FSM: linearizable = a
 * ReadIndex barrier (the peer forwards it to the leader when it is a follower); stale = now.
 */
export async function readBarrier(ctx: ServiceContext, consistency: Consistency): Promise<void> {
  if (consistency === "stale") return;
  try {
    await ctx.peer.readBarrier();
  } catch (err) {
    const e = err as { name?: unknown; code?: unknown; message?: unknown };
    const notLeader =
      e?.name === "NotLeaderError" || (typeof e?.code === "string" && /NOT_LEADER/.test(e.code));
    throw new ServiceError(
      notLeader ? ServiceErrorCode.NotLeader : ServiceErrorCode.Unavailable,
      `linearizable read failed: ${String(e?.message ?? err)} (retry, or read with consistency=stale)`,
      { cause: err, leader: ctx.directory.leader() },
    );
  }
}
