import { describe, expect, it } from "vitest";
import type { PeerAddress, PeerStatus, RaftPeerApi } from "../peer/types.js";
import { LeaderDirectory } from "./leader.js";

/** Only what the directory reads of a peer: its member table and the leader's address. */
function peerWith(members: PeerAddress[], leaderId: number): RaftPeerApi {
  const status = {
    leaderId,
    members: members.map((address) => ({ id: address.id, address })),
  } as unknown as PeerStatus;
  return {
    status: () => status,
    leaderAddress: () => members.find((m) => m.id === leaderId),
  } as unknown as RaftPeerApi;
}

const table: PeerAddress[] = [
  { id: 1, grpc: "p1:7001", http: "http://p1:8001" },
  { id: 2, grpc: "p2:7002", http: "http://p2:8002" },
];

describe("the leader directory", () => {
  it("hands out addresses from the member table, then from the static list", () => {
    const dir = new LeaderDirectory(peerWith(table, 2), [
      { id: 3, grpc: "p3:7003", http: "http://p3:8003" },
    ]);
    expect(dir.leader()).toEqual({ id: 2, grpc: "p2:7002", http: "http://p2:8002" });
    expect(dir.address(3)).toEqual({ id: 3, grpc: "p3:7003", http: "http://p3:8003" });
    expect(dir.address(4)).toBeUndefined();
  });

  it("gives every peer's API this peer's scheme (a table written before HTTPS says http://)", () => {
    const dir = new LeaderDirectory(peerWith(table, 2), [], "https");
    expect(dir.leader()?.http).toBe("https://p2:8002");
    expect(dir.address(1)?.http).toBe("https://p1:8001");
    const plain = new LeaderDirectory(
      peerWith([{ id: 1, grpc: "p1:7001", http: "https://p1:8001" }], 1),
      [],
    );
    expect(plain.leader()?.http).toBe("http://p1:8001");
  });
});
