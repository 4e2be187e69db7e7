import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { type NatsServer, sleep, startNatsServer, waitFor } from "@tessera/harness";
import {
  decodeWorkItem,
  LOGS_STREAM,
  parseJobSpec,
  STREAMS,
  WORK_STREAM,
  type WorkItem,
} from "@tessera/protocol";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { deferred, itemBytes, mapSubject, workItem } from "./fixtures.test-helpers.js";
import {
  type ConsumerHandle,
  closeGracefully,
  connect,
  consume,
  ensureDurableConsumer,
  MessagingError,
  type NatsConnection,
  provisionStreams,
  publishWithDedup,
  workConsumerOptions,
} from "./index.js";

let server: NatsServer;
let nc: NatsConnection;
const handles: ConsumerHandle[] = [];
const extraConnections: NatsConnection[] = [];

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
});
afterAll(async () => {
  await server?.stop();
});

beforeEach(async () => {
  nc = await connect({ servers: server.url, name: "messaging-test" });
  const jsm = await jetstreamManager(nc);
  // Each test starts from an empty set of streams.
  for (const s of STREAMS) await jsm.streams.delete(s.name).catch(() => false);
});
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.stop(1_000)));
  await Promise.all(extraConnections.splice(0).map((c) => c.close()));
  await closeGracefully(nc);
});

async function setupWork(ackWaitMs: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await provisionStreams(jsm, { replicas: 1 });
  await ensureDurableConsumer(jsm, workConsumerOptions("cpu", { ackWaitMs, maxDeliver: 20 }));
}

describe("provisionStreams", () => {
  it("creates every catalogue stream, is a no-op the second time, and updates drifted config", async () => {
    const jsm = await jetstreamManager(nc);
    const first = await provisionStreams(jsm, { replicas: 1 });
    expect(first.map((r) => [r.stream, r.action])).toEqual(STREAMS.map((s) => [s.name, "created"]));
    const work = await jsm.streams.info(WORK_STREAM.name);
    expect(work.config.retention).toBe(RetentionPolicy.Workqueue);
    expect(work.config.subjects).toEqual(["tessera.work.>"]);

    const second = await provisionStreams(jsm, { replicas: 1 });
    expect(second.every((r) => r.action === "unchanged")).toBe(true);

    const logs = await jsm.streams.info(LOGS_STREAM.name);
    await jsm.streams.update(LOGS_STREAM.name, { ...logs.config, max_age: nanos(3_600_000) });
    const third = await provisionStreams(jsm, { replicas: 1 });
    expect(third.find((r) => r.stream === LOGS_STREAM.name)).toEqual({
      stream: LOGS_STREAM.name,
      action: "updated",
      changed: ["max_age"],
    });
    expect((await jsm.streams.info(LOGS_STREAM.name)).config.max_age).toBe(
      nanos(LOGS_STREAM.maxAgeMs),
    );
  });

  it("reports a stream whose retention cannot be changed with a clear error", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: LOGS_STREAM.name,
      subjects: ["tessera.log.>"],
      retention: RetentionPolicy.Workqueue,
    });
    const err = await provisionStreams(jsm, { replicas: 1, streams: [LOGS_STREAM] }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(MessagingError);
    expect(err.code).toBe("TESSERA_E_MESSAGING_PROVISION");
    expect(err.message).toMatch(
      /^stream TESSERA_LOGS exists with an incompatible config \(.*retention.* differ\) and the server refused to update it: .*retention/,
    );
  });

  it("ensureDurableConsumer creates once and updates ack wait in place", async () => {
    const jsm = await jetstreamManager(nc);
    await provisionStreams(jsm, { replicas: 1 });
    const a = await ensureDurableConsumer(jsm, workConsumerOptions("cpu"));
    expect(a.config.ack_policy).toBe(AckPolicy.Explicit);
    expect(a.config.filter_subject).toBe("tessera.work.cpu.>");
    expect(a.config.max_deliver).toBe(20);
    const b = await ensureDurableConsumer(jsm, workConsumerOptions("cpu", { ackWaitMs: 5_000 }));
    expect(b.config.ack_wait).toBe(nanos(5_000));
    expect((await jsm.consumers.list(WORK_STREAM.name).next()).length).toBe(1);
  });
});

describe("publishWithDedup", () => {
  it("stores a message once when the same id is published twice", async () => {
    await setupWork(30_000);
    const js = jetstream(nc);
    const first = await publishWithDedup(js, mapSubject(), itemBytes(0), "work:a");
    const second = await publishWithDedup(js, mapSubject(), itemBytes(0), "work:a");
    expect(first.duplicate).toBe(false);
    expect(second).toEqual({ ...first, duplicate: true });
    const info = await (await jetstreamManager(nc)).streams.info(WORK_STREAM.name);
    expect(info.state.messages).toBe(1);
  });
});

describe("consume", () => {
  it("terminates invalid messages (never redelivered) and keeps processing good ones", async () => {
    await setupWork(1_000);
    const js = jetstream(nc);
    await js.publish(mapSubject(), "not json");
    await js.publish(
      mapSubject(),
      JSON.stringify({ ...workItem(1), job: { n: 64, tile: 24, mode: "exact", seed: 1 } }),
    );
    await js.publish(mapSubject(), itemBytes(2));
    const seen: string[] = [];
    const handle = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      handler: async (item) => {
        seen.push(item.itemId);
      },
    });
    handles.push(handle);
    await waitFor("the good item", async () => seen.length === 1, 10_000);
    // Wait past ack_wait: a non-terminated bad message would come back now.
    await sleep(2_500);
    expect(seen).toEqual([workItem(2).itemId]);
    expect(handle.stats).toMatchObject({ delivered: 3, terminated: 2, acked: 1, naked: 0 });
    const info = await (await jetstreamManager(nc)).consumers.info(WORK_STREAM.name, "agents-cpu");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(info.num_pending).toBe(0);
  });

  it("keeps a 3 s job alive past a 1 s ack wait with in-progress acks", async () => {
    await setupWork(1_000);
    const js = jetstream(nc);
    await publishWithDedup(js, mapSubject(), itemBytes(3), "work:long");
    const deliveries: number[] = [];
    const handle = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      concurrency: 2, // a free slot would receive a redelivery if one happened
      handler: async (_item, ctx) => {
        deliveries.push(ctx.deliveryCount);
        await ctx.keepAlive(() => sleep(3_000), 300);
      },
      keepAliveMs: 0, // only the explicit keepAlive helper protects the message
    });
    handles.push(handle);
    await waitFor("the long job to be acked", async () => handle.stats.acked === 1, 10_000);
    await sleep(1_500);
    expect(deliveries).toEqual([1]);
  });

  it("without in-progress acks the same job is redelivered (the test above can fail)", async () => {
    await setupWork(1_000);
    const js = jetstream(nc);
    await publishWithDedup(js, mapSubject(), itemBytes(4), "work:long2");
    const deliveries: number[] = [];
    const handle = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      concurrency: 2,
      keepAliveMs: 0,
      handler: async (_item, ctx) => {
        deliveries.push(ctx.deliveryCount);
        await sleep(3_000);
      },
    });
    handles.push(handle);
    await waitFor("a redelivery", async () => deliveries.length >= 2, 10_000);
    expect(deliveries.slice(0, 2)).toEqual([1, 2]);
  });

  it("redelivers an un-acked message after its consumer dies", async () => {
    await setupWork(1_000);
    const dying = await connect({ servers: server.url, name: "dying" });
    const started = deferred();
    let abortedByClose = false;
    const dyingHandle = await consume<WorkItem>(jetstream(dying), {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      handler: async (_item, ctx) => {
        started.resolve();
        // Mid-task when the connection dies; the loop tells the handler to give up.
        await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r()));
        abortedByClose = true;
      },
    });
    await publishWithDedup(jetstream(nc), mapSubject(), itemBytes(5), "work:orphan");
    await started.promise;
    await dying.close(); // connection gone, no ack ever sent
    await dyingHandle.done; // the consumer ends instead of spinning on a closed connection
    expect(abortedByClose).toBe(true);
    expect(dyingHandle.stats.acked).toBe(0);

    const redelivered = deferred<number>();
    const handle = await consume<WorkItem>(jetstream(nc), {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      handler: async (item, ctx) => {
        expect(item.itemId).toBe(workItem(5).itemId);
        redelivered.resolve(ctx.deliveryCount);
      },
    });
    handles.push(handle);
    expect(await redelivered.promise).toBe(2);
  });

  it("naks a failing handler for retry and acks the retry that succeeds", async () => {
    await setupWork(30_000);
    const js = jetstream(nc);
    await publishWithDedup(js, mapSubject(), itemBytes(6), "work:flaky");
    const deliveries: number[] = [];
    const handle = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      retryDelayMs: () => 100,
      handler: async (_item, ctx) => {
        deliveries.push(ctx.deliveryCount);
        if (ctx.deliveryCount === 1) throw new Error("storage hiccup");
      },
    });
    handles.push(handle);
    await waitFor("the retry to be acked", async () => handle.stats.acked === 1, 10_000);
    expect(deliveries).toEqual([1, 2]);
    expect(handle.stats.naked).toBe(1);
  });

  it("terminates a message whose handler rejects it as invalid (ProtocolError)", async () => {
    await setupWork(30_000);
    const js = jetstream(nc);
    await publishWithDedup(js, mapSubject(), itemBytes(9), "work:bad-inner");
    const deliveries: number[] = [];
    const handle = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      retryDelayMs: () => 100,
      handler: async (_item, ctx) => {
        deliveries.push(ctx.deliveryCount);
        parseJobSpec({ n: 3, tile: 5 }); // throws ProtocolValidationError
      },
    });
    handles.push(handle);
    await waitFor("the termination", async () => handle.stats.terminated === 1, 10_000);
    await sleep(500); // a nak would have brought it back after 100 ms
    expect(deliveries).toEqual([1]);
  });

  it("stop() lets in-flight work finish, and releases work that outlives the grace period", async () => {
    await setupWork(30_000);
    const js = jetstream(nc);
    await publishWithDedup(js, mapSubject(), itemBytes(7), "work:s1");
    const started = deferred();
    const handle = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      handler: async () => {
        started.resolve();
        await sleep(500);
      },
    });
    await started.promise;
    await handle.stop(5_000);
    expect(handle.stats.acked).toBe(1);

    await publishWithDedup(js, mapSubject(), itemBytes(8), "work:s2");
    const started2 = deferred();
    let aborted = false;
    const stuck = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      handler: async (_item, ctx) => {
        started2.resolve();
        await new Promise<void>((r) => ctx.signal.addEventListener("abort", () => r()));
        aborted = true;
      },
    });
    await started2.promise;
    await stuck.stop(300);
    expect(aborted).toBe(true);
    expect(stuck.stats.acked).toBe(0);
    // Released with nak(0): available again at once, long before the 30 s ack wait.
    const again = deferred<number>();
    const next = await consume<WorkItem>(js, {
      stream: WORK_STREAM.name,
      durable: "agents-cpu",
      decode: decodeWorkItem,
      handler: async (_item, ctx) => again.resolve(ctx.deliveryCount),
    });
    handles.push(next);
    expect(await again.promise).toBe(2);
  });

  it("fails fast with a typed error when the consumer does not exist", async () => {
    const err = await consume(jetstream(nc), {
      stream: WORK_STREAM.name,
      durable: "nope",
      decode: decodeWorkItem,
      handler: async () => {},
    }).catch((e) => e);
    expect(err).toBeInstanceOf(MessagingError);
    expect(err.code).toBe("TESSERA_E_MESSAGING_CONSUMER");
  });
});
