import { describe, expect, it } from "vitest";
import { decodeEnvelope, parseEnvelope } from "./envelope.js";
import { joinRefusal, nextFeatureLevel } from "./feature-level.js";

describe("nextFeatureLevel", () => {
  it("raises to the lowest level every member advertises", () => {
    expect(nextFeatureLevel(1, [2, 2, 2])).toBe(2);
    expect(nextFeatureLevel(1, [3, 2, 3])).toBe(2);
    expect(nextFeatureLevel(2, [3, 3, 3])).toBe(3);
  });

  it("waits while a member is silent, predates levels, or nothing is above the committed level", () => {
    expect(nextFeatureLevel(1, [2, undefined, 2])).toBeUndefined();
    // Proto3's default 0: a peer older than feature levels, i.e. level 1.
    expect(nextFeatureLevel(1, [2, 0, 2])).toBeUndefined();
    expect(nextFeatureLevel(2, [2, 2, 2])).toBeUndefined();
    expect(nextFeatureLevel(2, [1, 3, 3])).toBeUndefined();
    expect(nextFeatureLevel(1, [])).toBeUndefined();
  });
});

describe("joinRefusal", () => {
  it("refuses a new member below the committed level, naming both levels", () => {
    expect(joinRefusal(4, 2, 1)?.message).toBe(
      "peer 4 supports manifest feature level 1, the cluster runs at 2: upgrade it (or raise its --feature-level) before adding it",
    );
    expect(joinRefusal(4, 2, 0)?.code).toBe("TESSERA_E_CONSENSUS_FEATURE_LEVEL");
  });

  it("lets through a member at or above the level, or one that did not answer", () => {
    expect(joinRefusal(4, 2, 2)).toBeUndefined();
    expect(joinRefusal(4, 1, 0)).toBeUndefined();
    expect(joinRefusal(4, 2, undefined)).toBeUndefined();
  });
});

describe("cluster-level at the doors", () => {
  it("is refused from clients (HTTP, gRPC, JetStream share these decoders), naming the field", () => {
    const env = { v: 1, clientId: "c", seq: 1, cmd: { type: "cluster-level", level: 3 } };
    const why =
      "manifest command: /cmd/type: cluster-level is proposed only by the consensus leader, once every peer supports the level";
    expect(() => parseEnvelope(env)).toThrow(why);
    expect(() => decodeEnvelope(new TextEncoder().encode(JSON.stringify(env)))).toThrow(why);
    expect(parseEnvelope({ ...env, cmd: { type: "noop" } }).cmd.type).toBe("noop");
  });
});
