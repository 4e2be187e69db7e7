import { createServer, type Socket } from "node:net";
import { type NatsServer, startNatsServer } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeGracefully, connect } from "./connection.js";
import { MessagingError } from "./errors.js";

let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false, mode: "process" });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe("connect (first connection)", () => {
  it("fails after connectTimeoutMs, naming the servers, when nothing answers", async () => {
    await server.kill();
    const t0 = Date.now();
    const err = await connect({
      servers: server.url,
      name: "test-unreachable",
      connectTimeoutMs: 1_500,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MessagingError);
    expect((err as MessagingError).code).toBe("TESSERA_E_MESSAGING_CONNECT");
    expect((err as Error).message).toContain(`cannot connect to NATS at ${server.url}`);
    // Bounded: not the silent forever-wait of a bare waitOnFirstConnect.
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it("keeps trying within the budget, so a service may start before its NATS server", async () => {
    if (server.running) await server.kill();
    const pending = connect({ servers: server.url, name: "test-late", connectTimeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 1_000));
    await server.restart();
    const nc = await pending;
    expect(nc.isClosed()).toBe(false);
    await nc.close();
  });
});

describe("closeGracefully", () => {
  it("closes at once a connection whose server went away, instead of waiting on reconnects", async () => {
    if (!server.running) await server.restart();
    const nc = await connect({ servers: server.url, name: "test-close-orphan" });
    nc.subscribe("orphan.>");
    const statuses = nc.status();
    await server.kill();
    for await (const s of statuses) if (s.type === "disconnect") break;
    // The address now takes connections and never speaks NATS (as a vanished pod's address
    // does not answer at all): each reconnect attempt waits out its timeout.
    const sockets: Socket[] = [];
    const blackHole = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(server.port, "127.0.0.1", resolve));
    try {
      await closeGracefully(nc);
      expect(nc.isClosed()).toBe(true);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((r) => blackHole.close(r));
    }
  }, 5_000);
});
