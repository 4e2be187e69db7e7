// The consensus cluster as `tessera cluster status` and `tessera top` show it: the peer that
// answered names the members, and each member is asked for its own view (only a peer knows its
// own commit and applied index), directly, without redirects.
// The constant alone: the package root loads every schema (~0.2 s of every command's start).
import { BASE_FEATURE_LEVEL } from "@tessera/protocol/feature-levels";
import type { ClusterClient } from "./client.js";

/** GET /v1/cluster of one peer (read field by field: an older peer may lack some). */
export interface ClusterView {
  id?: number;
  role?: string;
  term?: number;
  leader?: { id?: number; http?: string; grpc?: string } | null;
  commitIndex?: number;
  appliedIndex?: number;
  /** Absent from peers that predate feature levels (they are level 1). */
  featureLevel?: { cluster?: number; supported?: number };
  peers?: { id: number; role?: string; grpc?: string; http?: string; matchIndex?: number }[];
}

export interface PeerStatus {
  readonly id: number;
  readonly role: string;
  /** Whether the peer itself answered (otherwise role comes from the answering peer's view). */
  readonly reachable: boolean;
  readonly term: number | null;
  readonly commitIndex: number | null;
  readonly appliedIndex: number | null;
  readonly grpc: string | null;
  readonly http: string | null;
  /** The highest manifest feature level the peer can apply (null when it did not answer). */
  readonly featureLevel: number | null;
}

export interface ClusterStatus {
  readonly leader: number | null;
  readonly term: number;
  /** The manifest's committed feature level (the highest any answering peer has applied). */
  readonly featureLevel: number;
  readonly peers: readonly PeerStatus[];
}

async function ownView(
  client: ClusterClient,
  http: string,
  timeoutMs: number,
): Promise<ClusterView | undefined> {
  try {
    const res = await client.fetch(`${http.replace(/\/$/, "")}/v1/cluster`, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: client.authHeaders,
    });
    return res.ok ? ((await res.json()) as ClusterView) : undefined;
  } catch {
    return undefined;
  }
}

/** The cluster's leader, term and every member's own indexes (throws CliError if none answers). */
export async function readClusterStatus(
  client: ClusterClient,
  peerTimeoutMs = 2_000,
): Promise<ClusterStatus> {
  const view = (await client.get("/v1/cluster")) as ClusterView;
  // Levels only go up: the highest any peer has applied is the cluster's.
  const levelOf = (v: ClusterView) => v.featureLevel?.cluster ?? BASE_FEATURE_LEVEL;
  let featureLevel = levelOf(view);
  const peers = await Promise.all(
    (view.peers ?? []).map(async (p): Promise<PeerStatus> => {
      const own = p.http ? await ownView(client, p.http, peerTimeoutMs) : undefined;
      if (own) featureLevel = Math.max(featureLevel, levelOf(own));
      return {
        id: p.id,
        role: own?.role ?? p.role ?? "unknown",
        reachable: own !== undefined,
        term: own?.term ?? null,
        commitIndex: own?.commitIndex ?? null,
        appliedIndex: own?.appliedIndex ?? null,
        grpc: p.grpc ?? null,
        http: p.http ?? null,
        featureLevel: own ? (own.featureLevel?.supported ?? BASE_FEATURE_LEVEL) : null,
      };
    }),
  );
  const leaderPeer = peers.find((p) => p.role === "leader");
  return {
    leader: view.leader?.id ?? leaderPeer?.id ?? null,
    term: Math.max(view.term ?? 0, ...peers.map((p) => p.term ?? 0)),
    featureLevel,
    peers,
  };
}
