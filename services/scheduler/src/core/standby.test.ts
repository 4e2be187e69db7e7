import { describe, expect, it } from "vitest";
import { type StandbyNode, standbyCandidates } from "./standby.js";

const failed = {
  nodeId: "gpu-1",
  pool: "gpu",
  cloud: "aws",
  region: "us-east-1",
  slots: 2,
};
const standby = (nodeId: string, over: Partial<StandbyNode> = {}): StandbyNode => ({
  nodeId,
  pool: "gpu",
  cloud: "aws",
  region: "us-east-1",
  seenAt: 1_000,
  ...over,
});

describe("standbyCandidates", () => {
  it("offers the pool's standbys nearest first, ties by node id", () => {
    const standbys = [
      standby("z-far", { cloud: "gcp", region: "us-central1" }),
      standby("b-same"),
      standby("c-other-region", { region: "eu-west-1" }),
      standby("a-same"),
    ];
    expect(standbyCandidates(failed, standbys, 2_000, 5_000)).toEqual([
      "a-same",
      "b-same",
      "c-other-region",
      "z-far",
    ]);
  });

  it("skips other pools, silent standbys and the failed node itself", () => {
    const standbys = [
      standby("cpu-standby", { pool: "cpu" }),
      standby("silent", { seenAt: 0 }),
      standby("gpu-1"),
      standby("ok"),
    ];
    expect(standbyCandidates(failed, standbys, 6_000, 5_500)).toEqual(["ok"]);
  });

  it("needs no stand-in for a node that offered no slots (a standby or a draining agent)", () => {
    expect(standbyCandidates({ ...failed, slots: 0 }, [standby("ok")], 2_000, 5_000)).toEqual([]);
  });
});
