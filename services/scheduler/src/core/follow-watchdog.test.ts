import { describe, expect, it } from "vitest";
import { FollowWatchdog } from "./follow-watchdog.js";

describe("FollowWatchdog", () => {
  it("a follow that is caught up is never stalled, however long it is idle", () => {
    const w = new FollowWatchdog();
    for (let i = 0; i < 5; i++) expect(w.check(40, 40)).toBe(false);
  });

  it("behind but moving is healthy; behind and not moving across two checks is stalled", () => {
    const w = new FollowWatchdog();
    expect(w.check(10, 50)).toBe(false); // first sight of a backlog: give it one period
    expect(w.check(30, 60)).toBe(false); // progress
    expect(w.check(30, 60)).toBe(true); // none since the last check, events waiting
  });

  it("catching up in between, or a reset after restarting the follow, starts over", () => {
    const w = new FollowWatchdog();
    expect(w.check(10, 20)).toBe(false);
    expect(w.check(20, 20)).toBe(false); // caught up
    expect(w.check(20, 25)).toBe(false); // new backlog: one period of grace again
    w.reset();
    expect(w.check(20, 25)).toBe(false);
    expect(w.check(20, 25)).toBe(true);
  });
});
