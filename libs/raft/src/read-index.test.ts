/** Linearizable reads with ReadIndex (dissertation §6.4). */
import { describe, expect, it } from "vitest";
import { ProposalDroppedError } from "./errors.js";
import { MessageType } from "./message.js";
import { dec, enc, TestNetwork } from "./test-network.test-helpers.js";

describe("§6.4 ReadIndex", () => {
  it("§6.4 the leader serves a read at its commit index after a heartbeat round confirms leadership", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.raw(1).propose(enc("w"));
    net.settle();
    const before = net.sent.length;
    net.raw(1).readIndex(enc("r1"));
    net.settle();
    const rs = net.node(1).readStates;
    // Entries 1-3 hold the initial configuration, 4 is the leader's no-op, 5 is "w".
    expect(rs.map((r) => [r.index, dec(r.ctx)])).toEqual([[5, "r1"]]);
    const hbs = net.sent.slice(before).filter((m) => m.type === MessageType.Heartbeat);
    expect(hbs.length).toBe(2);
    expect(hbs.every((m) => dec(m.context!) === "r1")).toBe(true);
  });

  it("§6.4 a follower forwards the read to the leader and gets the read index back", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.raw(1).propose(enc("w"));
    net.settle();
    net.raw(3).readIndex(enc("f1"));
    net.settle();
    expect(net.node(3).readStates.map((r) => [r.index, dec(r.ctx)])).toEqual([[5, "f1"]]);
  });

  it("§6.4 a leader cut off from the quorum answers no read (it might be deposed)", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.isolate(1);
    net.raw(1).readIndex(enc("stale?"));
    net.tick(1, 5);
    expect(net.node(1).readStates).toEqual([]);
  });

  it("§6.4 a new leader answers reads only after committing an entry of its own term", () => {
    const net = new TestNetwork([1, 2, 3]);
    net.campaign(1);
    net.raw(1).propose(enc("w"));
    net.settle();
    // Node 2 becomes leader but its appends (the term's no-op) are lost for now.
    net.filter = (m) => !(m.from === 2 && m.type === MessageType.App);
    net.raw(1).transferLeadership(2);
    net.settle();
    expect(net.leaders()).toEqual([2]);
    net.raw(2).readIndex(enc("early"));
    net.settle();
    expect(net.node(2).readStates).toEqual([]);
    net.filter = undefined;
    net.tickAll(2);
    const rs = net.node(2).readStates;
    expect(rs.map((r) => dec(r.ctx))).toEqual(["early"]);
    expect(rs[0]!.index).toBe(6); // the new term's no-op, not the stale commit index 5
  });

  it("§6.4 a read with no known leader is refused with a typed error", () => {
    const net = new TestNetwork([1, 2, 3]);
    expect(() => net.raw(2).readIndex(enc("x"))).toThrow(ProposalDroppedError);
  });

  it("§6.4 lease-based reads need no heartbeat round", () => {
    const net = new TestNetwork([1, 2, 3], { readOnlyOption: "lease-based" });
    net.campaign(1);
    const before = net.sent.length;
    net.raw(1).readIndex(enc("l"));
    net.handleReady(1);
    expect(net.node(1).readStates.map((r) => dec(r.ctx))).toEqual(["l"]);
    expect(net.sent.slice(before).some((m) => m.type === MessageType.Heartbeat)).toBe(false);
  });
});
