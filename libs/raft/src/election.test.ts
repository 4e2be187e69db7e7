/** Election extensions from the dissertation: pre-vote (§9.6), check-quorum and leader lease (§6.2, §4.2.3). */
import { describe, expect, it } from "vitest";
import { MessageType } from "./message.js";
import { StateType } from "./ready.js";
import { TestNetwork } from "./test-network.test-helpers.js";

describe("§9.6 pre-vote", () => {
  it("§9.6 pre-vote stops a rejoining node from disrupting a stable leader", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    const term = net.raw(1).status().term;
    net.isolate(3);
    net.tick(3, 100); // node 3 times out again and again, alone
    expect(net.raw(3).status().term).toBe(term); // pre-vote never bumps the term
    net.heal();
    net.tickAll(5);
    expect(net.raw(1).status()).toMatchObject({ state: StateType.Leader, term });
    expect(net.raw(3).status().lead).toBe(1);
  });

  it("§9.6 without pre-vote the same rejoining node forces a new election (the problem pre-vote solves)", () => {
    const net = new TestNetwork([1, 2, 3], { preVote: false });
    net.campaign(1);
    const term = net.raw(1).status().term;
    net.isolate(3);
    net.tick(3, 100);
    expect(net.raw(3).status().term).toBeGreaterThan(term + 3);
    net.heal();
    net.tickAll(5);
    expect(net.raw(1).status().term).toBeGreaterThan(term); // the leader was deposed
  });

  it("§9.6 a pre-candidate whose log is behind does not win the pre-vote", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(3);
    net.raw(1).propose(new Uint8Array([1]));
    net.settle();
    net.isolate(1); // leader gone; 3 is behind, 2 is up to date
    net.heal();
    net.isolate(1);
    net.campaign(3);
    expect(net.raw(3).status().state).not.toBe(StateType.Leader);
  });
});

describe("§6.2 check-quorum and leader lease", () => {
  it("§6.2 check-quorum: a leader that cannot reach a quorum steps down within an election timeout", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(1);
    net.tick(1, 10); // first check marks followers inactive...
    expect(net.raw(1).status().state).toBe(StateType.Leader);
    net.tick(1, 10); // ...the second finds no quorum active
    expect(net.raw(1).status().state).toBe(StateType.Follower);
    expect(net.raw(1).status().lead).toBe(0);
  });

  it("§6.2 check-quorum: a leader that hears from a quorum stays leader", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(3);
    net.tickAll(50);
    expect(net.raw(1).status().state).toBe(StateType.Leader);
  });

  it("§4.2.3 leader lease: a voter that heard from its leader within the election timeout ignores vote requests", () => {
    const net = new TestNetwork([1, 2, 3], { preVote: false });
    net.campaign(1);
    const term = net.raw(1).status().term;
    net.raw(2).step({
      type: MessageType.Vote,
      from: 3,
      to: 2,
      term: term + 1,
      logTerm: 99,
      index: 99,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
    });
    expect(net.raw(2).status()).toMatchObject({ term, lead: 1 });
    expect(net.raw(2).hasReady()).toBe(false); // not even an answer
  });

  it("§6.2 a stale leader that returns after a partition steps down on the first reply", () => {
    const net = new TestNetwork([1, 2, 3], { checkQuorum: false, preVote: false });
    net.campaign(1);
    net.isolate(1);
    net.campaign(2);
    expect(net.raw(2).status().state).toBe(StateType.Leader);
    expect(net.raw(1).status().state).toBe(StateType.Leader); // still thinks it leads
    expect(() => net.raw(1).propose(new Uint8Array([7]))).not.toThrow();
    net.heal();
    net.tickAll(1); // the new leader's heartbeat carries the newer term
    expect(net.raw(1).status()).toMatchObject({ state: StateType.Follower, lead: 2 });
    // Its uncommitted proposal from the old term never applies anywhere.
    net.tickAll(3);
    for (const id of [1, 2, 3]) expect(net.node(id).applied).toEqual([]);
  });

  it("§5.2 a minority-side leader cannot commit", () => {
    const net = new TestNetwork([1, 2, 3, 4, 5]);
    net.campaign(1);
    net.partition([1, 2], [3, 4, 5]);
    net.raw(1).propose(new Uint8Array([1]));
    net.tick(1, 5);
    expect(net.node(1).applied).toEqual([]);
    expect(net.node(2).applied).toEqual([]);
  });
});
