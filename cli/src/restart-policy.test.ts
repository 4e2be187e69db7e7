import { describe, expect, it } from "vitest";
import { RESTART_POLICY, restartDelay } from "./restart-policy.js";

describe("dev up --restart: the wait before starting a crashed process again", () => {
  it("waits 100 ms the first time (Docker's), doubles while the process keeps dying young, up to 30 s", () => {
    let wait = 0;
    const waits: number[] = [];
    for (let i = 0; i < 11; i++) {
      wait = restartDelay(wait, 500);
      waits.push(wait);
    }
    expect(waits).toEqual([
      100, 200, 400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 30_000, 30_000,
    ]);
  });

  it("starts over at 100 ms once a restarted process has lived long enough", () => {
    expect(restartDelay(16_000, RESTART_POLICY.healthyAfterMs)).toBe(100);
    expect(restartDelay(16_000, RESTART_POLICY.healthyAfterMs - 1)).toBe(30_000);
  });
});
