/** Single-server membership changes with a non-voting catch-up phase (dissertation §4.1–4.2). */
import { describe, expect, it } from "vitest";
import { ConfChangeType } from "./conf-change.js";
import { ProposalDroppedError } from "./errors.js";
import { StateType } from "./ready.js";
import { enc, TestNetwork } from "./test-network.test-helpers.js";

describe("§4 membership changes", () => {
  it("§4.2.1 a new server joins as a learner, catches up without voting, then is promoted", () => {
    const net = new TestNetwork([1, 2, 3], {}, "log");
    net.campaign(1);
    for (let i = 0; i < 5; i++) net.raw(1).propose(enc(`m${i}`));
    net.settle();
    net.addNode(4); // empty configuration: it learns everything from the leader
    net.raw(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4 });
    net.settle();
    net.tickAll(2);
    expect(net.node(1).confState).toEqual({ voters: [1, 2, 3], learners: [4], votersOutgoing: [] });
    expect(net.appliedData(4)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(net.node(4).confState.learners).toEqual([4]);
    // A learner does not count toward commit: with 2 and 3 cut off, nothing commits.
    net.partition([1, 4], [2, 3]);
    net.raw(1).propose(enc("needs-quorum"));
    net.settle();
    expect(net.appliedData(1)).not.toContain("needs-quorum");
    // A learner never campaigns.
    net.tick(4, 50);
    expect(net.raw(4).status().state).toBe(StateType.Follower);
    net.heal();
    net.tickAll(2);
    // Promote it.
    net.raw(net.leaders()[0]!).proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4 });
    net.settle();
    for (const id of [1, 2, 3, 4]) {
      expect(net.node(id).confState).toEqual({
        voters: [1, 2, 3, 4],
        learners: [],
        votersOutgoing: [],
      });
    }
    // Now the quorum is 3 of 4: nodes 1, 4 and one more are needed.
    net.isolate(2);
    net.isolate(3);
    const l = net.leaders()[0]!;
    net.raw(l).propose(enc("two-of-four"));
    net.settle();
    expect(net.appliedData(l)).not.toContain("two-of-four");
  });

  it("§4.1 only one membership change may be pending at a time", () => {
    const net = new TestNetwork([1, 2, 3], {}, "log");
    net.campaign(1);
    net.addNode(4);
    net.addNode(5);
    net.raw(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4 });
    expect(() =>
      net.raw(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 5 }),
    ).toThrow(ProposalDroppedError);
    net.settle();
    expect(() =>
      net.raw(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 5 }),
    ).not.toThrow();
  });

  it("§4.1 removing a follower shrinks the quorum", () => {
    const net = new TestNetwork([1, 2, 3], {}, "log");
    net.campaign(1);
    net.raw(1).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3 });
    net.settle();
    expect(net.node(1).confState.voters).toEqual([1, 2]);
    net.isolate(3);
    net.raw(1).propose(enc("after-remove"));
    net.settle();
    expect(net.appliedData(1)).toEqual(["after-remove"]);
    expect(net.appliedData(2)).toEqual(["after-remove"]);
    // The removed node never campaigns.
    net.tick(3, 50);
    expect(net.raw(3).status().state).toBe(StateType.Follower);
  });

  it("§4.2.2 a leader removed from the configuration steps down and the rest elect a new leader", () => {
    const net = new TestNetwork([1, 2, 3], {}, "log");
    net.campaign(1);
    net.raw(1).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1 });
    net.settle();
    expect(net.raw(1).status().state).toBe(StateType.Follower);
    net.tickAll(40);
    const leaders = net.leaders();
    expect(leaders).toHaveLength(1);
    expect([2, 3]).toContain(leaders[0]);
    net.raw(leaders[0]!).propose(enc("new-era"));
    net.settle();
    expect(net.appliedData(2)).toEqual(["new-era"]);
    expect(net.raw(1).status().state).toBe(StateType.Follower);
  });

  it("§4.1 removing the last voter is refused", () => {
    const net = new TestNetwork([1], {}, "log");
    net.campaign(1);
    expect(() =>
      net.raw(1).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 1 }),
    ).toThrow(ProposalDroppedError);
  });

  it("§4 a learner added after compaction is installed by snapshot", () => {
    const net = new TestNetwork([1, 2, 3], { snapshotChunkSize: 64 }, "log");
    net.campaign(1);
    for (let i = 0; i < 5; i++) net.raw(1).propose(enc(`s${i}`));
    net.settle();
    const l = net.node(1);
    l.storage.createSnapshot(l.appliedIndex, l.confState, new Uint8Array(300).fill(9));
    l.storage.compact(l.appliedIndex);
    net.addNode(4);
    net.raw(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4 });
    net.settle();
    net.tickAll(3);
    expect(net.node(4).restoredFrom?.data.length).toBe(300);
    expect(net.node(4).confState.learners).toEqual([4]);
  });

  it("§4 a node joining a storage-bootstrapped cluster starts empty and learns the whole configuration from the log", () => {
    const net = new TestNetwork([1, 2, 3]); // initial configuration given in each storage
    net.campaign(1);
    net.raw(1).propose(enc("before"));
    net.settle();
    net.addNode(4); // empty storage, empty configuration
    net.raw(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4 });
    net.tickAll(2); // the next heartbeat round probes the new member
    // It replayed the initial configuration from the log: not a one-node cluster of its own.
    expect(net.node(4).confState).toEqual({ voters: [1, 2, 3], learners: [4], votersOutgoing: [] });
    net.tick(4, 50);
    expect(net.raw(4).status().state).toBe(StateType.Follower);
    net.raw(1).proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4 });
    net.settle();
    net.tickAll(2);
    expect(net.node(4).confState).toEqual({
      voters: [1, 2, 3, 4],
      learners: [],
      votersOutgoing: [],
    });
    expect(net.appliedData(4)).toEqual(["before"]);
    expect(net.leaders()).toEqual([1]);
  });
});
