import { describe, expect, it } from "vitest";
import { parseSince } from "./args.js";
import { formatLogLine, logsSubject, matches, parseLogLine, parseLogsArgs } from "./logs.js";

const NOW = Date.parse("2026-12-04T12:00:00.000Z");

describe("tessera logs: query", () => {
  it("reads --since as a duration back from now or as an ISO time", () => {
    expect(parseSince("10m", NOW)).toBe(NOW - 600_000);
    expect(parseSince("2h", NOW)).toBe(NOW - 7_200_000);
    expect(parseSince("2026-12-04T11:00:00Z", NOW)).toBe(NOW - 3_600_000);
    expect(() => parseSince("yesterday", NOW)).toThrow(/--since/);
    expect(() => parseSince("soon", NOW, "--finished-before")).toThrow(
      /^--finished-before: "soon"/,
    );
  });

  it("defaults to info and above over the last hour, 200 lines, every service", () => {
    const q = parseLogsArgs({}, NOW);
    expect(q).toEqual({ minLevel: 30, since: NOW - 3_600_000, limit: 200, follow: false });
    expect(logsSubject(q)).toBe("tessera.log.*.>");
    expect(logsSubject(parseLogsArgs({ service: "agent" }, NOW))).toBe("tessera.log.agent.>");
  });

  it.each([
    [{ level: "loud" }, "--level"],
    [{ limit: "0" }, "--limit"],
    [{ service: "a.b" }, "--service"],
    [{ node: "x y" }, "--node"],
  ])("rejects %j naming %s (exit code 2)", (o, flag) => {
    expect(() => parseLogsArgs(o, NOW)).toThrow(
      expect.objectContaining({ exitCode: 2, message: expect.stringContaining(flag) }),
    );
  });

  it("matches by level, job, task, node (field node or nodeId) and text, case-insensitively", () => {
    const raw =
      '{"level":30,"time":1,"service":"agent","node":"agent-1","jobId":"j1","taskId":"m-0-0-0","msg":"Work item completed"}';
    const line = parseLogLine(raw)!;
    const q = (o: Parameters<typeof parseLogsArgs>[0]) => parseLogsArgs(o, NOW);
    expect(matches(q({ job: "j1", task: "m-0-0-0", node: "agent-1" }), line, raw)).toBe(true);
    expect(matches(q({ grep: "WORK ITEM" }), line, raw)).toBe(true);
    expect(matches(q({ level: "warn" }), line, raw)).toBe(false);
    expect(matches(q({ job: "j2" }), line, raw)).toBe(false);
    expect(matches(q({ task: "r-0-0" }), line, raw)).toBe(false);
    expect(matches(q({ node: "agent-2" }), line, raw)).toBe(false);
    const aboutNode = { level: 40, nodeId: "agent-2", msg: "node failed" };
    expect(matches(q({ node: "agent-2" }), aboutNode, JSON.stringify(aboutNode))).toBe(true);
  });

  it("skips a stored line that is not a JSON object instead of failing", () => {
    expect(parseLogLine("not json")).toBeNull();
    expect(parseLogLine("[1]")).toBeNull();
  });

  it("formats a line as time, level, service/node, message and the remaining fields", () => {
    expect(
      formatLogLine({
        level: 50,
        time: NOW,
        service: "scheduler",
        node: "s-1",
        msg: "proposal failed",
        jobId: "j1",
        attempt: 2,
        err: { code: "X" },
      }),
    ).toBe(
      '2026-12-04T12:00:00.000Z ERROR scheduler/s-1 proposal failed jobId=j1 attempt=2 err={"code":"X"}',
    );
  });
});
