import { describe, expect, it } from "vitest";
import { RunGate } from "./run-gate.js";

describe("RunGate", () => {
  it("admits at most `limit` runs at once, in arrival order", async () => {
    const gate = new RunGate(1);
    const order: string[] = [];
    const releases = new Map<string, () => void>();
    const job = (name: string) =>
      gate.run(async () => {
        order.push(`start ${name}`);
        await new Promise<void>((r) => releases.set(name, r));
        order.push(`end ${name}`);
        return name;
      });
    const a = job("a");
    const b = job("b");
    const c = job("c");
    await Promise.resolve();
    expect(order).toEqual(["start a"]);
    expect(gate.load()).toEqual({ active: 1, waiting: 2 });
    releases.get("a")?.();
    expect(await a).toBe("a");
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(["start a", "end a", "start b"]);
    releases.get("b")?.();
    await b;
    await new Promise((r) => setImmediate(r));
    releases.get("c")?.();
    await c;
    expect(order).toEqual(["start a", "end a", "start b", "end b", "start c", "end c"]);
    expect(gate.load()).toEqual({ active: 0, waiting: 0 });
  });

  it("frees the place when a run fails", async () => {
    const gate = new RunGate(1);
    await expect(gate.run(async () => Promise.reject(new Error("kernel failed")))).rejects.toThrow(
      "kernel failed",
    );
    expect(await gate.run(async () => 7)).toBe(7);
    expect(gate.load()).toEqual({ active: 0, waiting: 0 });
  });

  it("runs up to the limit side by side", async () => {
    const gate = new RunGate(2);
    let running = 0;
    let peak = 0;
    const job = () =>
      gate.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      });
    await Promise.all([job(), job(), job(), job(), job()]);
    expect(peak).toBe(2);
  });

  it("refuses a limit below 1", () => {
    expect(() => new RunGate(0)).toThrow(RangeError);
  });
});
