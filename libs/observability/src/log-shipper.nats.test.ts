import { connect } from "@nats-io/transport-node";
import { type NatsServer, startNatsServer, waitFor } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, LogShipper } from "./index.js";

const devNull = { write: () => true };

describe("LogShipper on a real nats-server", () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer({ jetstream: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("ships lines to tessera.log.<service>.<level> and never throws while NATS is down", async () => {
    const nc = await connect({
      servers: server.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    const watcher = await connect({ servers: server.url });
    const received: { subject: string; msg: string }[] = [];
    const sub = watcher.subscribe("tessera.log.>", {
      callback: (_err, m) => {
        received.push({ subject: m.subject, msg: (m.json() as { msg: string }).msg });
      },
    });
    await watcher.flush();

    const shipper = new LogShipper("agent");
    shipper.attach(nc);
    const log = createLogger({ service: "agent", destination: devNull, shipper });
    log.error("disk on fire");
    await waitFor("the shipped line", async () => received.length === 1, 5_000);
    expect(received[0]).toEqual({ subject: "tessera.log.agent.error", msg: "disk on fire" });
    sub.unsubscribe();
    await watcher.close();

    await server.kill(); // the bus is gone; logging must carry on
    for (let i = 0; i < 100; i++) expect(() => log.warn({ i }, "while down")).not.toThrow();
    await nc.close();
    expect(() => log.warn("after close")).not.toThrow();
    expect(shipper.stats.dropped).toBeGreaterThanOrEqual(1);
    await server.restart();
  });
});
