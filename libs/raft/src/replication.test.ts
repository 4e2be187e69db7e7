/** Flow control and batching of log replication (etcd's Progress/Inflights; dissertation §10.2). */
import { describe, expect, it } from "vitest";
import { ProposalDroppedError } from "./errors.js";
import { MessageType, newMessage } from "./message.js";
import type { RawNode } from "./raw-node.js";
import { enc, TestNetwork } from "./test-network.test-helpers.js";

describe("flow control and batching", () => {
  it("flow control window respected: at most maxInflightMsgs unacknowledged appends to a follower", () => {
    const net = new TestNetwork([1, 2, 3], { maxInflightMsgs: 3 });
    net.campaign(1);
    expect(net.raw(1).status().progress?.get(3)?.state).toBe("replicate");
    // Follower 3 receives appends but its acknowledgements are lost.
    net.filter = (m) => !(m.from === 3 && m.type === MessageType.AppResp);
    const before = net.sent.length;
    for (let i = 0; i < 10; i++) {
      net.raw(1).propose(enc(`e${i}`));
      net.settle();
    }
    // Entry-carrying appends count against the window (empty ones only carry the commit index).
    const appsTo3 = net.sent
      .slice(before)
      .filter((m) => m.type === MessageType.App && m.to === 3 && m.entries.length > 0);
    expect(appsTo3.length).toBe(3);
    expect(net.raw(1).status().progress?.get(3)?.inflight).toBe(3);
    // Node 2 was never throttled and everything committed through it.
    expect(net.appliedData(1)).toHaveLength(10);
    // Once acknowledgements flow again, the window drains and 3 catches up.
    net.heal();
    net.tickAll(3);
    expect(net.appliedData(3)).toEqual(net.appliedData(1));
  });

  it("pipelining: a follower in replicate state gets several appends before any acknowledgement", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    const before = net.sent.length;
    // Five proposal rounds, each flushed by a Ready, without delivering anything in between.
    for (let i = 0; i < 5; i++) {
      net.raw(1).propose(enc(`p${i}`));
      net.handleReady(1);
    }
    const apps = net.sent.slice(before).filter((m) => m.type === MessageType.App && m.to === 2);
    expect(apps.map((m) => m.entries.map((e) => e.index))).toEqual([[5], [6], [7], [8], [9]]); // after 3 configuration entries and the no-op
    net.settle();
    expect(net.appliedData(2)).toEqual(["p0", "p1", "p2", "p3", "p4"]);
  });

  it("batching: a catching-up follower gets many entries per append, each append within maxSizePerMsg", () => {
    const net = new TestNetwork([1, 2, 3], { maxSizePerMsg: 1000 });
    net.campaign(1);
    net.isolate(3);
    for (let i = 0; i < 100; i++) net.raw(1).propose(new Uint8Array(84)); // 100 B per entry incl. header
    net.settle();
    const before = net.sent.length;
    net.heal();
    net.tickAll(2);
    const apps = net.sent
      .slice(before)
      .filter((m) => m.type === MessageType.App && m.to === 3 && m.entries.length > 0);
    expect(apps.length).toBeGreaterThanOrEqual(10);
    expect(apps.length).toBeLessThanOrEqual(12);
    for (const m of apps) {
      const bytes = m.entries.reduce((s, e) => s + e.data.length + 16, 0);
      expect(m.entries.length === 1 || bytes <= 1000).toBe(true);
    }
    expect(net.node(3).applied).toHaveLength(100);
  });

  it("batching: proposals stepped between two Readies share one append per follower", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    const before = net.sent.length;
    for (let i = 0; i < 64; i++) net.raw(1).propose(enc(`b${i}`));
    net.handleReady(1);
    const apps = net.sent.slice(before).filter((m) => m.type === MessageType.App);
    expect(apps.map((m) => [m.to, m.entries.length])).toEqual([
      [2, 64],
      [3, 64],
    ]);
    net.settle();
    expect(net.appliedData(3)).toHaveLength(64);
  });

  it("a proposal beyond maxUncommittedEntriesSize is dropped with a typed error", () => {
    const net = new TestNetwork([1, 2, 3], { maxUncommittedEntriesSize: 1000 });
    net.campaign(1);
    net.isolate(1); // nothing commits
    net.raw(1).propose(new Uint8Array(600));
    let err: unknown;
    try {
      net.raw(1).propose(new Uint8Array(600));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProposalDroppedError);
    expect((err as ProposalDroppedError).code).toBe("TESSERA_E_RAFT_PROPOSAL_DROPPED");
    // After the backlog commits, proposals are accepted again.
    net.heal();
    net.tickAll(2);
    expect(() => net.raw(1).propose(new Uint8Array(600))).not.toThrow();
  });

  it("a proposal with no leader is dropped with a typed error; on a follower it is forwarded", () => {
    const net = new TestNetwork([1, 2, 3]);
    expect(() => net.raw(1).propose(enc("x"))).toThrow(ProposalDroppedError);
    net.campaign(1);
    net.raw(2).propose(enc("via-follower"));
    net.settle();
    for (const id of [1, 2, 3]) expect(net.appliedData(id)).toEqual(["via-follower"]);
  });

  it("an unreachable follower drops back to probing instead of pipelining into the void", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.raw(1).reportUnreachable(3);
    expect(net.raw(1).status().progress?.get(3)?.state).toBe("probe");
  });

  it("a single-node cluster commits on its own", () => {
    const net = new TestNetwork([1]);
    net.campaign(1);
    net.raw(1).propose(enc("solo"));
    net.settle();
    expect(net.appliedData(1)).toEqual(["solo"]);
  });

  it("a restarted node recovers its log and commit from storage and rejoins", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    for (let i = 0; i < 5; i++) net.raw(1).propose(enc(`r${i}`));
    net.settle();
    net.restart(2);
    expect(net.raw(2).status().commit).toBe(9); // 3 configuration entries, the no-op, r0-r4
    net.tickAll(30);
    expect(net.appliedData(2)).toEqual(["r0", "r1", "r2", "r3", "r4"]);
  });
});

describe("a follower that lost its log (wiped storage)", () => {
  /** Follower 3 refuses the leader's append at `index`, saying its log matches up to `hint`. */
  const rejectAppend = (leader: RawNode, index: number, hint: number) =>
    leader.step(
      newMessage(MessageType.AppResp, {
        from: 3,
        to: 1,
        term: leader.status().term,
        index,
        reject: true,
        rejectHint: hint,
      }),
    );

  it("a rejection hint below the acknowledged match makes the leader probe from the hint", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    for (let i = 0; i < 5; i++) net.raw(1).propose(enc(`w${i}`));
    net.settle();
    const leader = net.raw(1);
    const match = leader.status().progress?.get(3)?.match ?? 0;
    expect(match).toBe(leader.status().lastIndex);
    const committed = leader.status().commit;
    // Follower 3 answers an append at its old match with "I have nothing": its log is gone.
    const before = net.sent.length;
    rejectAppend(leader, match, 0);
    net.handleReady(1);
    const pr = leader.status().progress?.get(3);
    expect(pr?.match).toBe(0);
    expect(pr?.state).toBe("probe");
    // The next append to it starts from the beginning of the log; nothing committed moves back.
    const app = net.sent.slice(before).find((m) => m.type === MessageType.App && m.to === 3);
    expect(app?.index).toBe(0);
    expect(leader.status().commit).toBe(committed);
  });

  it("an ordinary stale rejection (hint at or above the match) is still ignored", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    for (let i = 0; i < 3; i++) net.raw(1).propose(enc(`s${i}`));
    net.settle();
    const leader = net.raw(1);
    const match = leader.status().progress?.get(3)?.match ?? 0;
    rejectAppend(leader, match - 1, match);
    expect(leader.status().progress?.get(3)).toMatchObject({ match, state: "replicate" });
  });
});
