import { type NatsCluster, startNatsCluster, waitFor } from "@tessera/harness";
import { decodeWorkItem, WORK_STREAM, type WorkItem, workItemMsgId } from "@tessera/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { itemBytes, mapSubject, workItem } from "./fixtures.test-helpers.js";
import {
  closeGracefully,
  connect,
  consume,
  ensureDurableConsumer,
  jetstream,
  jetstreamManager,
  provisionStreams,
  publishWithDedup,
  workConsumerOptions,
} from "./index.js";

describe("on a 3-node JetStream cluster", () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await startNatsCluster({ size: 3 });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("a consumer keeps draining R3 work while the node it is connected to is SIGKILLed", async () => {
    const nc = await connect({ servers: [...cluster.urls], name: "cluster-test" });
    const jsm = await jetstreamManager(nc);
    const provisioned = await provisionStreams(jsm, { replicas: 3 });
    expect(provisioned.every((r) => r.action === "created")).toBe(true);
    expect((await jsm.streams.info(WORK_STREAM.name)).config.num_replicas).toBe(3);
    await ensureDurableConsumer(jsm, workConsumerOptions("cpu", { ackWaitMs: 2_000 }));

    const js = jetstream(nc);
    const seen = new Set<string>();
    const handle = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      concurrency: 2,
      handler: async (item) => {
        seen.add(item.itemId);
      },
    });
    const publish = (from: number, to: number) =>
      Promise.all(
        Array.from({ length: to - from }, (_, n) =>
          publishWithDedup(
            js,
            mapSubject(),
            itemBytes(from + n),
            workItemMsgId(workItem(from + n).itemId),
            {
              attempts: 10,
            },
          ),
        ),
      );
    await publish(0, 10);
    await waitFor("the first 10 items", async () => seen.size === 10, 20_000);

    const connectedTo = nc.info?.server_name;
    const victim = cluster.servers.find((s) => s.name === connectedTo) ?? cluster.servers[0]!;
    await victim.kill();
    await publish(10, 20);
    await waitFor("all 20 items after the node died", async () => seen.size === 20, 45_000, 100);

    await victim.restart();
    await cluster.waitForMetaLeader();
    // Work-queue: every item is eventually acked and removed. An ack sent to the node as it died
    // is lost, so that item comes back after its ack wait (at-least-once) and is acked then:
    // keep consuming until the stream is empty.
    await waitFor(
      "the work stream to drain",
      async () => (await jsm.streams.info(WORK_STREAM.name)).state.messages === 0,
      30_000,
      200,
    );
    await handle.stop(5_000);
    expect(handle.stats.terminated).toBe(0);
    expect(seen.size).toBe(20);
    await closeGracefully(nc);
  });
});
