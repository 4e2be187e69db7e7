/** Leadership transfer (dissertation §3.10). */
import { describe, expect, it } from "vitest";
import { ProposalDroppedError } from "./errors.js";
import { MessageType } from "./message.js";
import { StateType } from "./ready.js";
import { enc, TestNetwork } from "./test-network.test-helpers.js";

describe("§3.10 leadership transfer", () => {
  it("§3.10 transfer leadership to an up-to-date follower: it campaigns at once and wins", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    const term = net.raw(1).status().term;
    net.raw(1).transferLeadership(3);
    net.settle();
    expect(net.raw(3).status()).toMatchObject({ state: StateType.Leader, term: term + 1 });
    expect(net.raw(1).status()).toMatchObject({ state: StateType.Follower, lead: 3 });
    // The target skipped pre-vote and its vote requests overrode the voters' leader lease.
    const votes = net.sent.filter((m) => m.type === MessageType.Vote && m.from === 3);
    expect(votes.length).toBe(2);
    expect(votes.every((m) => m.transfer === true)).toBe(true);
  });

  it("§3.10 a lagging target is caught up first, then receives TimeoutNow", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(3);
    for (let i = 0; i < 10; i++) net.raw(1).propose(enc(`t${i}`));
    net.settle();
    net.heal();
    net.raw(1).transferLeadership(3);
    net.settle();
    const i = net.sent.findIndex((m) => m.type === MessageType.TimeoutNow);
    expect(i).toBeGreaterThan(-1);
    expect(net.raw(3).status().state).toBe(StateType.Leader);
    expect(net.appliedData(3)).toHaveLength(10);
  });

  it("§3.10 proposals are refused during a transfer, and an unfinished transfer aborts after an election timeout", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(3);
    net.raw(1).transferLeadership(3);
    net.settle();
    expect(net.raw(1).status().leadTransferee).toBe(3);
    expect(() => net.raw(1).propose(enc("x"))).toThrow(ProposalDroppedError);
    net.tick(1, 10);
    expect(net.raw(1).status()).toMatchObject({ state: StateType.Leader, leadTransferee: 0 });
    expect(() => net.raw(1).propose(enc("x"))).not.toThrow();
  });

  it("§3.10 a follower forwards a transfer request to the leader", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.raw(2).transferLeadership(2);
    net.settle();
    expect(net.raw(2).status().state).toBe(StateType.Leader);
  });
});
