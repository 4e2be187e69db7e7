import { describe, expect, it } from "vitest";
import { BoundAttempts } from "./bound-attempts.js";
import { ViewBuilder } from "./fixtures.test-helpers.js";

describe("BoundAttempts", () => {
  it("moves an attempt's time forward only when its heartbeat lists it, and forgets ended ones", () => {
    const b = new BoundAttempts();
    b.bound("j1/m-0-0-0/1", 100);
    b.bound("j2/m-0-0-0/1", 100);
    // The second is bound to no node: held by the node that listed it, from now on.
    b.listed("n1", ["j1/m-0-0-0/1", "j1/m-0-0-1/1"], 900);
    expect([...b.lastSeen]).toEqual([
      ["j1/m-0-0-0/1", 900],
      ["j2/m-0-0-0/1", 100],
      ["j1/m-0-0-1/1", 900],
    ]);
    expect([...b.listedBy]).toEqual([["j1/m-0-0-1/1", "n1"]]);
    // Its work message redelivered to n2: n2 holds it now. A bound attempt keeps its node.
    b.listed("n2", ["j1/m-0-0-1/1", "j1/m-0-0-0/1"], 950);
    expect([...b.listedBy]).toEqual([["j1/m-0-0-1/1", "n2"]]);
    // The manifest binding it later (a claim) wins over the heartbeats.
    b.bound("j1/m-0-0-1/1", 960);
    expect(b.listedBy.size).toBe(0);
    b.ended("j1/m-0-0-0/1");
    b.ended("j1/m-0-0-1/1");
    b.listed("n1", ["j2/m-0-0-1/1"], 970);
    b.endJob("j2");
    expect(b.lastSeen.size).toBe(0);
    expect(b.listedBy.size).toBe(0);
  });

  it("after a rebuild holds exactly the view's live bound attempts, known ones keeping their time", () => {
    const view = new ViewBuilder().submit("j1").node("n1", 2);
    view.start("j1", "m-0-0-0", 1, 0, { nodeId: "n1" });
    view.start("j1", "m-0-0-1", 1, 0, { nodeId: "n1" });
    view.start("j1", "m-0-1-0", 1, 0); // not bound, listed by n1
    view.start("j1", "m-0-1-1", 1, 0); // not bound, never listed
    const b = new BoundAttempts();
    b.bound("j1/m-0-0-0/1", 50);
    b.bound("j1/m-1-1-1/1", 50); // ended while the events were not followed
    b.listed("n1", ["j1/m-0-1-0/1"], 60);
    b.resetFrom(view.view, 700);
    expect([...b.lastSeen].sort()).toEqual([
      ["j1/m-0-0-0/1", 50],
      ["j1/m-0-0-1/1", 700],
      ["j1/m-0-1-0/1", 60],
    ]);
    expect([...b.listedBy]).toEqual([["j1/m-0-1-0/1", "n1"]]);
  });
});
