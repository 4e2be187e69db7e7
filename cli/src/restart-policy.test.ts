import { describe, expect, it } from "vitest";
import { RESTART_POLICY, restartDelay } from "./restart-policy.js";

describe("dev up --restart: the wait before starting a crashed process again", () => {
  it("waits 1 s the first time, doubles while the process keeps dying young, up to 30 s", () => {
    let wait = 0;
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      wait = restartDelay(wait, 500);
      waits.push(wait);
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("starts over at 1 s once a restarted process has lived long enough", () => {
    expect(restartDelay(16_000, RESTART_POLICY.healthyAfterMs)).toBe(1_000);
    expect(restartDelay(16_000, RESTART_POLICY.healthyAfterMs - 1)).toBe(30_000);
  });
});
