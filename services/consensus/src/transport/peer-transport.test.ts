import * as grpc from "@grpc/grpc-js";
import { freePorts, waitFor } from "@tessera/harness";
import { createLogger } from "@tessera/observability";
import { type Message, MessageType, type NodeId, newMessage } from "@tessera/raft";
import { afterEach, describe, expect, it } from "vitest";
import { encodeMessage } from "./codec.js";
import { PeerTransport } from "./peer-transport.js";
import { RAFT_GRPC_OPTIONS, raftServiceDefinition } from "./raft-service.js";

const logger = createLogger({
  service: "transport-test",
  level: (process.env.TESSERA_TEST_LOG as "debug" | undefined) ?? "silent",
});

interface End {
  id: NodeId;
  server: grpc.Server;
  transport: PeerTransport;
  received: Message[];
  unreachable: NodeId[];
}

const ends: End[] = [];

async function start(
  id: NodeId,
  port: number,
  peers: Record<number, number>,
  faults?: object,
): Promise<End> {
  const server = new grpc.Server(RAFT_GRPC_OPTIONS);
  const received: Message[] = [];
  const unreachable: NodeId[] = [];
  const transport = new PeerTransport({
    id,
    server,
    logger,
    onMessage: (m) => received.push(m),
    onUnreachable: (to) => unreachable.push(to),
    ...(faults ? { faults } : {}),
  });
  for (const [pid, p] of Object.entries(peers))
    transport.setPeer({ id: Number(pid), grpc: `127.0.0.1:${p}` });
  await new Promise<void>((res, rej) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) =>
      e ? rej(e) : res(),
    ),
  );
  const end = { id, server, transport, received, unreachable };
  ends.push(end);
  return end;
}

/** Waits until every link of every end is connected (links connect eagerly, with backoff). */
async function connected(...es: End[]): Promise<void> {
  await waitFor(
    "links up",
    async () => es.every((e) => e.transport.stats().every((s) => s.connected)),
    10_000,
    10,
  );
}

async function stop(e: End): Promise<void> {
  await e.transport.close();
  e.server.forceShutdown();
  ends.splice(ends.indexOf(e), 1);
}

afterEach(async () => {
  for (const e of [...ends]) await stop(e);
});

const app = (i: number, to = 2): Message =>
  newMessage(MessageType.App, { to, from: 1, term: 1, index: i, commit: i });

describe("PeerTransport over real gRPC", () => {
  it("delivers every message kind on its channel, in send order per link", async () => {
    const [p1, p2] = await freePorts(2);
    const a = await start(1, p1!, { 2: p2! });
    const b = await start(2, p2!, { 1: p1! });
    await connected(a, b);
    const msgs: Message[] = [];
    for (let i = 1; i <= 500; i++) msgs.push(app(i));
    a.transport.send(msgs);
    a.transport.send([
      newMessage(MessageType.PreVote, { to: 2, from: 1, term: 2, index: 5, logTerm: 1 }),
      newMessage(MessageType.TimeoutNow, { to: 2, from: 1, term: 2 }),
      newMessage(MessageType.Snap, {
        to: 2,
        from: 1,
        term: 2,
        snapshot: {
          metadata: {
            index: 9,
            term: 1,
            confState: { voters: [1, 2], learners: [], votersOutgoing: [] },
          },
          data: new Uint8Array(0),
        },
        snapshotChunk: { offset: 0, total: 3, done: true, data: new Uint8Array([1, 2, 3]) },
      }),
    ]);
    b.transport.send([newMessage(MessageType.AppResp, { to: 1, from: 2, term: 1, index: 500 })]);
    await waitFor(
      "all delivered",
      async () => b.received.length === 503 && a.received.length === 1,
      10_000,
      10,
    );
    const apps = b.received.filter((m) => m.type === MessageType.App).map((m) => m.index);
    expect(apps).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(b.received.map((m) => m.type)).toEqual(
      expect.arrayContaining([MessageType.PreVote, MessageType.TimeoutNow, MessageType.Snap]),
    );
    expect([
      ...(b.received.find((m) => m.type === MessageType.Snap)?.snapshotChunk?.data ?? []),
    ]).toEqual([1, 2, 3]);
  });

  it("keeps order under injected delay and jitter, set at construction and changed at run time", async () => {
    const [p1, p2] = await freePorts(2);
    const a = await start(1, p1!, { 2: p2! }, { default: { delayMs: 20, jitterMs: 15 } });
    const b = await start(2, p2!, { 1: p1! });
    await connected(a, b);
    for (let i = 1; i <= 300; i++) {
      a.transport.send([app(i)]);
      if (i === 100) a.transport.setLinkFaults(2, { delayMs: 1, jitterMs: 40 });
      if (i === 200) a.transport.setAllFaults({});
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    await waitFor("300 delivered", async () => b.received.length === 300, 10_000, 10);
    expect(b.received.map((m) => m.index)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it("drops everything on a link with loss 1 (a partition) and nothing on the others", async () => {
    const [p1, p2, p3] = await freePorts(3);
    const a = await start(1, p1!, { 2: p2!, 3: p3! }, { links: { 2: { lossRate: 1 } } });
    const b = await start(2, p2!, { 1: p1! });
    const c = await start(3, p3!, { 1: p1! });
    await connected(a, b, c);
    for (let i = 1; i <= 50; i++) a.transport.send([app(i, 2), app(i, 3)]);
    await waitFor("50 on link 1->3", async () => c.received.length === 50, 10_000, 10);
    expect(b.received).toHaveLength(0);
    expect(a.transport.stats().find((s) => s.to === 2)?.dropped).toBe(50);
    // Healing the partition lets traffic through again.
    a.transport.setLinkFaults(2, { lossRate: 0 });
    a.transport.send([app(51, 2)]);
    await waitFor("healed", async () => b.received.length === 1, 10_000, 10);
  });

  it("drops undecodable messages and misrouted frames without breaking the link", async () => {
    const [p1, p2] = await freePorts(2);
    const b = await start(2, p2!, { 1: p1! });
    const def = raftServiceDefinition();
    const client = new grpc.Client(`127.0.0.1:${p2}`, grpc.credentials.createInsecure());
    const result = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.makeClientStreamRequest(
        def.AppendEntries.path,
        def.AppendEntries.requestSerialize,
        def.AppendEntries.responseDeserialize,
        new grpc.Metadata(),
        {},
        (err) => resolve(err),
      );
      call.write({ from: 1, to: 2, messages: [new Uint8Array([9, 9, 9]), encodeMessage(app(1))] });
      call.write({ from: 1, to: 2, messages: [encodeMessage(app(2))] });
      call.end();
    });
    expect(await result).toBeNull();
    expect(b.received.map((m) => m.index)).toEqual([1, 2]);
    const misrouted = await new Promise<grpc.ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        def.RequestVote.path,
        def.RequestVote.requestSerialize,
        def.RequestVote.responseDeserialize,
        { from: 1, to: 3, messages: [] },
        (err: grpc.ServiceError | null) => resolve(err),
      );
    });
    expect(misrouted?.code).toBe(grpc.status.FAILED_PRECONDITION);
    client.close();
  });

  it("reports an unreachable peer, then reconnects once it is back", async () => {
    const [p1, p2] = await freePorts(2);
    const a = await start(1, p1!, { 2: p2! }, undefined);
    let b = await start(2, p2!, { 1: p1! });
    await connected(a, b);
    a.transport.send([app(1)]);
    await waitFor("first", async () => b.received.length === 1, 10_000, 10);
    await stop(b);
    await waitFor(
      "unreachable reported",
      async () => {
        a.transport.send([app(2)]);
        return a.unreachable.includes(2);
      },
      10_000,
      20,
    );
    b = await start(2, p2!, { 1: p1! });
    let i = 100;
    await waitFor(
      "delivery after restart",
      async () => {
        a.transport.send([app(i++)]);
        return b.received.length > 0;
      },
      10_000,
      20,
    );
  });
});
