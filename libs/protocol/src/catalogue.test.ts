import { describe, expect, it } from "vitest";
import {
  agentControlSubject,
  agentDurableName,
  completionMsgId,
  heartbeatSubject,
  logSubject,
  STREAMS,
  SubjectTokenError,
  workPoolFilter,
  workSubject,
} from "./index.js";

describe("catalogue", () => {
  it("builds the subjects agreed in the contracts", () => {
    expect(workSubject("gpu", "map")).toBe("tessera.work.gpu.map");
    expect(workPoolFilter("gpu")).toBe("tessera.work.gpu.>");
    expect(heartbeatSubject("agent-1")).toBe("tessera.hb.agent-1");
    expect(agentControlSubject("agent-1")).toBe("tessera.ctl.agent.agent-1");
    expect(logSubject("agent", "info")).toBe("tessera.log.agent.info");
    expect(agentDurableName("cpu")).toBe("agents-cpu");
    expect(completionMsgId("j/m-0-0-0/1")).toBe("complete:j/m-0-0-0/1");
  });

  it("rejects tokens that would change the subject hierarchy", () => {
    for (const bad of ["a.b", "*", ">", "", "has space"]) {
      expect(() => workSubject(bad, "map")).toThrow(SubjectTokenError);
    }
  });

  it("gives every subject exactly one owning stream (no overlaps)", () => {
    const roots = STREAMS.flatMap((s) => s.subjects.map((x) => x.split(".").slice(0, 2).join(".")));
    expect(new Set(roots).size).toBe(roots.length);
    expect(STREAMS.map((s) => s.name)).toEqual([
      "TESSERA_CMD",
      "TESSERA_EVENTS",
      "TESSERA_WORK",
      "TESSERA_LOGS",
    ]);
  });
});
