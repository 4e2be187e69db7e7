// publishWithDedup across a nats-server restart: a publish whose PubAck died with the server is
// retried when the connection comes back, not after its (here 60 s) timeout; every message is
// stored exactly once.
import { type NatsServer, startNatsServer } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "./connection.js";
import { ensureDurableConsumer, jetstream, jetstreamManager, provisionStreams } from "./index.js";
import { publishWithDedup } from "./publish.js";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true, mode: "process" });
  nc = await connect({ servers: server.url, name: "publish-reconnect-test" });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "RECONNECT_TEST", subjects: ["reconnect.test"] });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("publishWithDedup with retryOnReconnect", () => {
  it("finishes every publish soon after a server restart, each stored once", async () => {
    const js = jetstream(nc);
    let next = 0;
    let stop = false;
    const published = new Set<string>();
    // 32 writers back to back: when the server dies some publishes are always awaiting a PubAck.
    const writer = async () => {
      while (!stop) {
        const id = `m-${next++}`;
        await publishWithDedup(js, "reconnect.test", id, id, {
          timeoutMs: 60_000,
          attempts: 20,
          retryOnReconnect: nc,
        });
        published.add(id);
      }
    };
    const writers = Array.from({ length: 32 }, () => writer());
    while (published.size < 500) await new Promise((r) => setTimeout(r, 10));
    await server.kill();
    await new Promise((r) => setTimeout(r, 500));
    await server.restart();
    const restartedAt = published.size;
    while (published.size < restartedAt + 500) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    // Without the retry, a publish lost with the server would hold its writer for 60 s.
    await Promise.all(writers);
    const info = await (await jetstreamManager(nc)).streams.info("RECONNECT_TEST");
    expect(info.state.messages).toBe(published.size);
  }, 30_000);
});

describe("provisioning at start-up", () => {
  it("waits out a JetStream that does not answer yet instead of failing the start", async () => {
    const jsm = await jetstreamManager(nc);
    await server.kill();
    // Requests time out while the server is away: transient, so provisioning keeps trying.
    const provisioning = (async () => {
      await provisionStreams(jsm, { replicas: 1 });
      return ensureDurableConsumer(jsm, { stream: "RECONNECT_TEST", durable: "late-start" });
    })();
    await new Promise((r) => setTimeout(r, 1_000));
    await server.restart();
    const info = await provisioning;
    expect(info.name).toBe("late-start");
  }, 30_000);
});
