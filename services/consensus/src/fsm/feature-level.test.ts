// The manifest's feature level: a command that needs more than the cluster has committed is
// refused the same way on every peer; a raise above what this peer supports stops it; snapshots
// keep the format older peers read until the level is raised.
import { MANIFEST_FEATURE_LEVEL } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import { FeatureLevelError, FsmOptionsError } from "./errors.js";
import { Driver, upsert } from "./fsm.test-helpers.js";
import { ManifestFsm } from "./manifest-fsm.js";

const versionOf = (snap: Uint8Array) =>
  new DataView(snap.buffer, snap.byteOffset).getUint16(4, true);

function withNode(d = new Driver()): Driver {
  d.ok(upsert("a-1"));
  return d;
}

describe("manifest feature level", () => {
  it("starts at 1 and refuses a level-2 field without recording the session", () => {
    const d = withNode();
    expect(d.fsm.featureLevel).toEqual({ cluster: 1, supported: MANIFEST_FEATURE_LEVEL });
    const drain = {
      type: "node-drain",
      nodeId: "a-1",
      drained: true,
      reason: "disk swap",
    } as const;
    const refused = d.send(drain);
    const refusedSeq = d.seq;
    expect(refused.reply).toMatchObject({ ok: false, code: "feature-unavailable" });
    expect(refused.reply.ok ? "" : refused.reply.reason).toMatch(
      /^node-drain's reason needs cluster feature level 2; the cluster runs at level 1/,
    );
    expect(refused.events).toEqual([]);
    expect(d.fsm.getNode("a-1")).toMatchObject({ drained: false, drainReason: null });

    // The same seq runs once the level is raised: the refusal was not its answer.
    const raised = d.ok({ type: "cluster-level", level: 2 });
    expect(raised.reply).toMatchObject({ result: { level: 2, changed: true } });
    expect(raised.events).toEqual([{ category: "control", type: "feature-level", level: 2 }]);
    const again = d.send(drain, { seq: refusedSeq });
    expect(again.reply).toMatchObject({ ok: true, result: { drained: true, changed: true } });
    expect(again.reply.duplicate).toBeUndefined();
    expect(again.events).toEqual([
      { category: "node", type: "drain", nodeId: "a-1", drained: true, reason: "disk swap" },
    ]);
    expect(d.fsm.getNode("a-1")).toMatchObject({ drained: true, drainReason: "disk swap" });
  });

  it("keeps a drain without a reason at level 1, and levels only go up", () => {
    const d = withNode();
    d.ok({ type: "node-drain", nodeId: "a-1", drained: true });
    expect(d.fsm.getNode("a-1")).toMatchObject({ drained: true, drainReason: null });
    d.ok({ type: "cluster-level", level: 2 });
    expect(d.ok({ type: "cluster-level", level: 1 }).reply).toMatchObject({
      result: { level: 2, changed: false },
    });
    expect(d.ok({ type: "cluster-level", level: 2 }).events).toEqual([]);
    expect(d.fsm.featureLevel.cluster).toBe(2);
  });

  it("updates the reason of a drained node, clears it on undrain, refuses one on undrain", () => {
    const d = withNode();
    d.ok({ type: "cluster-level", level: 2 });
    d.ok({ type: "node-drain", nodeId: "a-1", drained: true, reason: "disk swap" });
    const same = d.ok({ type: "node-drain", nodeId: "a-1", drained: true, reason: "disk swap" });
    expect(same.reply).toMatchObject({ result: { changed: false } });
    d.ok({ type: "node-drain", nodeId: "a-1", drained: true, reason: "kernel upgrade" });
    expect(d.fsm.getNode("a-1")?.drainReason).toBe("kernel upgrade");
    expect(d.code({ type: "node-drain", nodeId: "a-1", drained: false, reason: "x" })).toBe(
      "schema-error",
    );
    d.ok({ type: "node-drain", nodeId: "a-1", drained: false });
    expect(d.fsm.getNode("a-1")).toMatchObject({ drained: false, drainReason: null });
  });

  it("throws FeatureLevelError when asked to apply a level above its own", () => {
    const d = Driver.withOptions({ featureLevel: 1 });
    expect(d.fsm.featureLevel).toEqual({ cluster: 1, supported: 1 });
    let thrown: unknown;
    try {
      d.send({ type: "cluster-level", level: 2 });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(FeatureLevelError);
    expect(thrown).toMatchObject({ code: "TESSERA_E_FEATURE_LEVEL", supported: 1, required: 2 });
    expect((thrown as Error).message).toMatch(/upgrade it \(or raise its --feature-level\)/);
    expect(() => new ManifestFsm({ featureLevel: MANIFEST_FEATURE_LEVEL + 1 })).toThrow(
      FsmOptionsError,
    );
    expect(() => new ManifestFsm({ featureLevel: 0 })).toThrow(/featureLevel: must be an integer/);
  });

  it("writes the v6 format at level 1 (older peers read it) and v7 from level 2", () => {
    const d = withNode();
    d.ok({ type: "node-drain", nodeId: "a-1", drained: true });
    const v6 = d.fsm.snapshot();
    expect(versionOf(v6)).toBe(6);
    const old = Driver.withOptions({ featureLevel: 1 }).fsm;
    old.restore(v6);
    expect(old.digest()).toBe(d.fsm.digest());

    d.ok({ type: "cluster-level", level: 2 });
    d.ok({ type: "node-drain", nodeId: "a-1", drained: true, reason: "disk swap" });
    const v7 = d.fsm.snapshot();
    expect(versionOf(v7)).toBe(7);
    const copy = new ManifestFsm();
    copy.restore(v7);
    expect(copy.digest()).toBe(d.fsm.digest());
    expect(copy.featureLevel.cluster).toBe(2);
    expect(copy.getNode("a-1")?.drainReason).toBe("disk swap");

    // A peer that supports only level 1 cannot take over this state: it stops, unchanged.
    const before = old.digest();
    expect(() => old.restore(v7)).toThrow(FeatureLevelError);
    expect(old.digest()).toBe(before);
    expect(old.featureLevel.cluster).toBe(1);
  });
});
