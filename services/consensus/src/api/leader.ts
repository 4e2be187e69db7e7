// Where the leader is, as far as this peer knows: its Raft id from the peer, and its gRPC/HTTP
// addresses from the peer's member table or, failing that, from the static peer list. HTTP
// addresses are handed out with this peer's scheme: a cluster's peers serve their API alike, and
// a member table written before the API moved to HTTPS still says http://.
import type { RaftPeerApi } from "../peer/types.js";
import type { LeaderHint } from "./errors.js";

export interface PeerDirectoryEntry {
  readonly id: number;
  readonly grpc: string;
  readonly http?: string | undefined;
}

export class LeaderDirectory {
  /** Addresses learnt at run time (POST /admin/peers) override the static list. */
  private readonly known = new Map<number, PeerDirectoryEntry>();

  constructor(
    private readonly peer: RaftPeerApi,
    staticPeers: readonly PeerDirectoryEntry[],
    private readonly scheme: "http" | "https" = "http",
  ) {
    for (const p of staticPeers) this.known.set(p.id, p);
  }

  remember(entry: PeerDirectoryEntry): void {
    this.known.set(entry.id, { ...this.known.get(entry.id), ...entry });
  }

  forget(id: number): void {
    this.known.delete(id);
  }

  /** Address of peer `id` (member table first, static list second). */
  address(id: number): PeerDirectoryEntry | undefined {
    const fromPeer = this.peer.status().members.find((m) => m.id === id)?.address;
    const fromList = this.known.get(id);
    if (!fromPeer && !fromList) return undefined;
    return {
      id,
      grpc: fromPeer?.grpc ?? fromList?.grpc ?? "",
      http: this.withScheme(fromPeer?.http ?? fromList?.http),
    };
  }

  /** The current leader's id and addresses; undefined while none is known. */
  leader(): LeaderHint | undefined {
    const status = this.peer.status();
    const id = status.leaderId;
    if (!id) return undefined;
    const fromPeer = this.peer.leaderAddress();
    const fromList = this.known.get(id);
    return {
      id,
      grpc: fromPeer?.grpc ?? fromList?.grpc,
      http: this.withScheme(fromPeer?.http ?? fromList?.http),
    };
  }

  private withScheme(http: string | undefined): string | undefined {
    return http?.replace(/^https?:\/\//, `${this.scheme}://`);
  }
}
