import { describe, expect, it } from "vitest";
import { BoundAttempts } from "./bound-attempts.js";
import { ViewBuilder } from "./fixtures.test-helpers.js";

describe("BoundAttempts", () => {
  it("moves an attempt's time forward only when its heartbeat lists it, and forgets ended ones", () => {
    const b = new BoundAttempts();
    b.bound("j1/m-0-0-0/1", 100);
    b.bound("j2/m-0-0-0/1", 100);
    b.listed(["j1/m-0-0-0/1", "j1/m-0-0-1/1"], 900); // the second is not bound: ignored
    expect([...b.lastSeen]).toEqual([
      ["j1/m-0-0-0/1", 900],
      ["j2/m-0-0-0/1", 100],
    ]);
    b.ended("j1/m-0-0-0/1");
    b.endJob("j2");
    expect(b.lastSeen.size).toBe(0);
  });

  it("after a rebuild holds exactly the view's live bound attempts, known ones keeping their time", () => {
    const view = new ViewBuilder().submit("j1").node("n1", 2);
    view.start("j1", "m-0-0-0", 1, 0, { nodeId: "n1" });
    view.start("j1", "m-0-0-1", 1, 0, { nodeId: "n1" });
    view.start("j1", "m-0-1-0", 1, 0); // not bound
    const b = new BoundAttempts();
    b.bound("j1/m-0-0-0/1", 50);
    b.bound("j1/m-1-1-1/1", 50); // ended while the events were not followed
    b.resetFrom(view.view, 700);
    expect([...b.lastSeen].sort()).toEqual([
      ["j1/m-0-0-0/1", 50],
      ["j1/m-0-0-1/1", 700],
    ]);
  });
});
