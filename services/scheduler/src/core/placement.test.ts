import { describe, expect, it } from "vitest";
import {
  majorityLocation,
  type NodeCandidate,
  type PlacementOptions,
  placeTask,
} from "./placement.js";

const node = (nodeId: string, over: Partial<NodeCandidate> = {}): NodeCandidate => ({
  nodeId,
  pool: "cpu",
  cloud: "aws",
  region: "us-east-1",
  zone: "a",
  slots: 2,
  inFlight: 0,
  failed: false,
  drained: false,
  lastFailureAt: undefined,
  ...over,
});
const opts = (
  policy: PlacementOptions["policy"],
  over: Partial<PlacementOptions> = {},
): PlacementOptions => ({
  policy,
  pools: [],
  cooldownMs: 10_000,
  ...over,
});

describe("placement", () => {
  it("least-loaded picks the node with fewest attempts in flight, ignoring size", () => {
    const nodes = [node("a", { slots: 8, inFlight: 3 }), node("b", { slots: 2, inFlight: 1 })];
    expect(placeTask(nodes, 0, opts("least-loaded"))).toMatchObject({ ok: true, nodeId: "b" });
  });

  it("capacity-weighted sends proportionally more to bigger nodes", () => {
    const nodes = [node("a", { slots: 8, inFlight: 3 }), node("b", { slots: 2, inFlight: 1 })];
    // a: (3+1)/8 = 0.5, b: (1+1)/2 = 1
    expect(placeTask(nodes, 0, opts("capacity-weighted"))).toMatchObject({ ok: true, nodeId: "a" });
  });

  it("locality prefers same region, then same cloud, over a less loaded node elsewhere", () => {
    const nodes = [
      node("gcp-1", { cloud: "gcp", region: "europe-west1" }),
      node("aws-w", { cloud: "aws", region: "us-west-2", inFlight: 0 }),
      node("aws-e", { cloud: "aws", region: "us-east-1", inFlight: 1 }),
    ];
    expect(
      placeTask(nodes, 0, opts("locality"), { cloud: "aws", region: "us-east-1" }),
    ).toMatchObject({ nodeId: "aws-e", pool: "cpu" });
    expect(
      placeTask(nodes, 0, opts("locality"), { cloud: "aws", region: "ap-south-1" }),
    ).toMatchObject({ nodeId: "aws-w" });
    expect(
      placeTask(nodes.slice(0, 1), 0, opts("locality"), { cloud: "aws", region: "us-east-1" }),
    ).toMatchObject({ nodeId: "gcp-1" });
  });

  it("never places on failed, drained, full or foreign-pool nodes, and says why", () => {
    const nodes = [
      node("failed", { failed: true }),
      node("drained", { drained: true }),
      node("full", { inFlight: 2 }),
      node("gpu", { pool: "gpu" }),
    ];
    expect(placeTask(nodes, 0, opts("least-loaded", { pools: ["cpu"] }))).toEqual({
      ok: false,
      reason: "every eligible node's slots are busy",
    });
    expect(placeTask(nodes, 0, opts("least-loaded"))).toMatchObject({
      ok: true,
      nodeId: "gpu",
      pool: "gpu",
    });
    expect(placeTask([], 0, opts("least-loaded"))).toMatchObject({
      ok: false,
      reason: expect.stringContaining("no nodes"),
    });
  });

  it("avoids a node that just failed while others have room, uses it when it is the only one", () => {
    const nodes = [node("hot", { lastFailureAt: 1000 }), node("z-cold", { inFlight: 1 })];
    expect(placeTask(nodes, 5000, opts("least-loaded"))).toMatchObject({
      nodeId: "z-cold",
      cooling: false,
    });
    expect(placeTask(nodes, 11_001, opts("least-loaded"))).toMatchObject({ nodeId: "hot" });
    expect(placeTask([nodes[0]!], 5000, opts("least-loaded"))).toMatchObject({
      nodeId: "hot",
      cooling: true,
    });
  });

  it("prefetch lets a node hold queued attempts beyond its slots", () => {
    const nodes = [node("a", { slots: 1, inFlight: 1 })];
    expect(placeTask(nodes, 0, opts("least-loaded"))).toMatchObject({ ok: false });
    expect(placeTask(nodes, 0, opts("least-loaded", { prefetch: 1 }))).toMatchObject({
      ok: true,
      nodeId: "a",
    });
    expect(
      placeTask([node("a", { slots: 1, inFlight: 2 })], 0, opts("least-loaded", { prefetch: 1 })),
    ).toMatchObject({ ok: false });
  });

  it("honours an avoid set (speculation never lands on the straggler's node)", () => {
    const nodes = [node("a"), node("b", { inFlight: 1 })];
    expect(placeTask(nodes, 0, opts("least-loaded"), undefined, new Set(["a"]))).toMatchObject({
      nodeId: "b",
    });
  });

  it("is deterministic on ties (node id order)", () => {
    const nodes = [node("c"), node("a"), node("b")];
    expect(placeTask(nodes, 0, opts("capacity-weighted"))).toMatchObject({ nodeId: "a" });
  });

  it("majorityLocation picks where most inputs are", () => {
    const e = { cloud: "aws", region: "e" };
    const w = { cloud: "aws", region: "w" };
    expect(majorityLocation([e, w, w, undefined])).toEqual(w);
    expect(majorityLocation([undefined])).toBeUndefined();
  });
});
