import { describe, expect, it } from "vitest";
import { VerifiedBatch } from "./verified-batch.js";

describe("VerifiedBatch", () => {
  it("gathers passed checks per job into commands of bounded size, in arrival order", () => {
    const b = new VerifiedBatch(2);
    b.add("j1", "m-0-0-0", 1);
    b.add("j2", "r-0-0", 3);
    b.add("j1", "m-0-0-1", 2);
    b.add("j1", "r-0-0", 1);
    expect(b.size).toBe(4);
    expect(b.take()).toEqual([
      {
        type: "outputs-verified",
        jobId: "j1",
        outputs: [
          { taskId: "m-0-0-0", attempt: 1 },
          { taskId: "m-0-0-1", attempt: 2 },
        ],
      },
      { type: "outputs-verified", jobId: "j1", outputs: [{ taskId: "r-0-0", attempt: 1 }] },
      { type: "outputs-verified", jobId: "j2", outputs: [{ taskId: "r-0-0", attempt: 3 }] },
    ]);
    // Taken once: the next take starts empty.
    expect(b.size).toBe(0);
    expect(b.take()).toEqual([]);
  });
});
