import { describe, expect, it } from "vitest";
import { machineBusySince, machineCpu, parseProcStat } from "./_cpu.js";

describe("parseProcStat", () => {
  it("counts idle and iowait as idle, the rest up to steal as busy", () => {
    const stat = "cpu  100 5 50 800 20 3 2 10 7 0\ncpu0 50 2 25 400 10 1 1 5 3 0\n";
    expect(parseProcStat(stat)).toEqual({ busy: 170, total: 990 });
  });

  it("refuses text that is not /proc/stat", () => {
    expect(parseProcStat("")).toBeUndefined();
    expect(parseProcStat("cpu0 1 2 3 4 5 6 7 8\n")).toBeUndefined();
    expect(parseProcStat("cpu  1 2 3\n")).toBeUndefined();
    expect(parseProcStat("cpu  1 2 3 x 5 6 7 8\n")).toBeUndefined();
  });
});

describe("machineBusySince", () => {
  it("is null without a first reading, a fraction of 1 with one (Linux)", async () => {
    expect(machineBusySince(undefined)).toBeNull();
    const before = machineCpu();
    if (!before) return; // no /proc/stat on this host
    const end = Date.now() + 60;
    while (Date.now() < end); // burn a little CPU so the window is not empty
    await new Promise((r) => setTimeout(r, 30));
    const busy = machineBusySince(before);
    expect(busy).not.toBeNull();
    expect(busy).toBeGreaterThan(0);
    expect(busy).toBeLessThanOrEqual(1);
  });
});
