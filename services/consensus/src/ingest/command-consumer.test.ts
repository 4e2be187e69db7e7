// The leader's JetStream command consumer against a real nats-server: a dead leader's un-acked
// commands come back to the next leader at once and in publication order, ahead of newer ones.
import { type NatsServer, startNatsServer } from "@tessera/harness";
import {
  connect,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  provisionStreams,
} from "@tessera/messaging";
import { createLogger } from "@tessera/observability";
import { CMD_STREAM } from "@tessera/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsensusMetrics } from "../api/metrics.js";
import type { ProposeOutcome } from "../api/proposer.js";
import { CommandConsumer } from "./command-consumer.js";

const logger = createLogger({
  service: "command-consumer-test",
  level: (process.env.TESSERA_TEST_LOG as "debug" | undefined) ?? "silent",
});
const text = new TextDecoder();
const DURABLE = "consensus-test";

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true, mode: "process" });
  nc = await connect({ servers: server.url, name: "command-consumer-test" });
  await provisionStreams(await jetstreamManager(nc), { replicas: 1, streams: [CMD_STREAM] });
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

async function publish(...bodies: string[]): Promise<void> {
  const js = jetstream(nc);
  for (const b of bodies) await js.publish("tessera.cmd.test", new TextEncoder().encode(b));
}

describe("CommandConsumer", () => {
  it("gets a dead leader's un-acked commands back at once, in publication order, before newer ones", async () => {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const proposed: string[] = [];
    const metrics = new ConsensusMetrics(2);
    const consumer = new CommandConsumer({
      js,
      jsm,
      metrics,
      logger,
      durable: DURABLE,
      // Far longer than the test may take: waiting for it to lapse would fail the test.
      ackWaitMs: 120_000,
      toCommand: (m) => m.data,
      proposer: {
        proposeBatch: async (commands) =>
          commands.map((c): ProposeOutcome => {
            proposed.push(text.decode(c));
            return {
              index: proposed.length,
              term: 1,
              reply: new Uint8Array(),
              parsed: { ok: true },
            };
          }),
      },
    });
    await consumer.provision();
    await publish("c1", "c2", "c3", "c4", "c5");
    // The previous leader pulled three and died before acking them.
    const held = await (await js.consumers.get(CMD_STREAM.name, DURABLE)).fetch({
      max_messages: 3,
      expires: 2_000,
    });
    const heldBodies: string[] = [];
    for await (const m of held) heldBodies.push(text.decode(m.data));
    expect(heldBodies).toEqual(["c1", "c2", "c3"]);
    await publish("c6", "c7");

    consumer.start();
    const deadline = Date.now() + 20_000;
    while (proposed.length < 7 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await consumer.stop();
    expect(proposed).toEqual(["c1", "c2", "c3", "c4", "c5", "c6", "c7"]);
    expect(consumer.stats.acked).toBe(7);
    // The acks are plain publishes: the server applies them a moment later (nats-server 2.15 under
    // load answered this info with all 7 still pending), but it must apply every one.
    const acked = await js.consumers.get(CMD_STREAM.name, DURABLE);
    await expect
      .poll(async () => (await acked.info(true)).num_ack_pending, { timeout: 5_000 })
      .toBe(0);
    expect(await metrics.registry.metrics()).toMatch(
      /tessera_consensus_command_consumer_resets_total\{[^}]*\} 1/,
    );
  }, 30_000);
});
