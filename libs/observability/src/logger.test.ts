import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, type LogPublisher, LogShipper, withContext } from "./index.js";

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("createLogger", () => {
  it("writes JSON with service and node on every line, and correlation ids on children", async () => {
    const out = capture();
    const log = createLogger({ service: "agent", nodeId: "n1", destination: out.stream });
    withContext(log, { jobId: "j1", taskId: "m-0-0-0", attempt: 2, term: undefined }).info("ran");
    await tick();
    const [line] = out.lines();
    expect(line).toMatchObject({
      service: "agent",
      node: "n1",
      jobId: "j1",
      taskId: "m-0-0-0",
      attempt: 2,
      msg: "ran",
      level: 30,
    });
    expect(line).not.toHaveProperty("term");
  });

  it("respects the level and keeps an error's code", async () => {
    const out = capture();
    const log = createLogger({ service: "s", level: "warn", destination: out.stream });
    log.info("hidden");
    log.error({ err: Object.assign(new Error("boom"), { code: "TESSERA_E_X" }) }, "failed");
    await tick();
    const lines = out.lines();
    expect(lines).toHaveLength(1);
    expect(lines[0]?.err).toMatchObject({ message: "boom", code: "TESSERA_E_X" });
  });
});

describe("LogShipper", () => {
  it("publishes lines at or above shipLevel on tessera.log.<service>.<level>", async () => {
    const sent: { subject: string; line: string }[] = [];
    const publisher: LogPublisher = {
      publish: (subject, payload) =>
        sent.push({ subject, line: new TextDecoder().decode(payload) }),
    };
    const shipper = new LogShipper("agent");
    const out = capture();
    const log = createLogger({
      service: "agent",
      level: "debug",
      destination: out.stream,
      shipper,
    });
    log.info("before attach");
    shipper.attach(publisher);
    log.debug("too low to ship");
    log.warn("shipped");
    await tick();
    expect(sent.map((s) => s.subject)).toEqual(["tessera.log.agent.warn"]);
    expect(JSON.parse(sent[0]?.line ?? "{}")).toMatchObject({ msg: "shipped", service: "agent" });
    expect(shipper.stats).toEqual({ shipped: 1, dropped: 1 });
    // Local output is unaffected by shipping.
    expect(out.lines().map((l) => l.msg)).toEqual(["before attach", "too low to ship", "shipped"]);
  });

  it("never throws when the bus is down or closed", () => {
    const shipper = new LogShipper("svc.with.dots");
    const log = createLogger({ service: "x", destination: capture().stream, shipper });
    shipper.attach({
      publish: () => {
        throw new Error("connection closed");
      },
    });
    expect(() => log.error("still fine")).not.toThrow();
    shipper.attach({ publish: () => undefined, isClosed: () => true });
    expect(() => log.error("still fine")).not.toThrow();
    expect(shipper.stats).toEqual({ shipped: 0, dropped: 2 });
  });
});
