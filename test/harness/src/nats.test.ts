import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import {
  canConnect,
  getJsz,
  HarnessError,
  type NatsCluster,
  resolveMode,
  startNatsCluster,
  startNatsServer,
  waitFor,
} from "./index.js";

// These tests exercise process mode: containers mode needs a Docker engine, which this
// machine may not have; with one, TESSERA_HARNESS=containers runs the same file against it.
const mode = (process.env.TESSERA_HARNESS as "process" | "containers" | undefined) ?? "process";

describe("startNatsServer", () => {
  // CI runs libs/messaging and this package a second time on another release (.ci/run): this is
  // what shows the servers it started were that release, not the one on the PATH.
  it.skipIf(mode !== "process")(
    "runs the nats-server TESSERA_NATS_SERVER names (else the PATH's)",
    async () => {
      const named = process.env.TESSERA_NATS_SERVER || "nats-server";
      const printed = execFileSync(named, ["--version"]).toString();
      const version = /v(\d+\.\d+\.\d+)/.exec(printed)?.[1];
      expect(version, printed).toBeDefined();
      const server = await startNatsServer({ jetstream: true, mode });
      const nc = await connect({ servers: server.url, reconnect: false });
      try {
        expect(nc.info?.version).toBe(version);
      } finally {
        await nc.close();
        await server.stop();
      }
    },
  );

  it("starts a JetStream server that survives SIGKILL + restart with its store, and stop() cleans up", async () => {
    const server = await startNatsServer({ jetstream: true, mode });
    const nc = await connect({ servers: server.url, reconnect: false });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "H", subjects: ["h.>"] });
    await jetstream(nc).publish("h.1", "x");
    await nc.close();

    await server.kill();
    expect(server.running).toBe(false);
    expect(await canConnect(server.port)).toBe(false);

    await server.restart();
    const nc2 = await connect({ servers: server.url, reconnect: false });
    const info = await (await jetstreamManager(nc2)).streams.info("H");
    expect(info.state.messages).toBe(1); // same store dir after restart
    await nc2.close();

    await server.stop();
    expect(await canConnect(server.port)).toBe(false);
    if (mode === "process") expect(existsSync(server.storeDir)).toBe(false);
  });

  it("starts a plain core-NATS server when jetstream is false", async () => {
    const server = await startNatsServer({ jetstream: false, mode });
    try {
      const nc = await connect({ servers: server.url, reconnect: false });
      await expect(jetstreamManager(nc)).rejects.toThrow();
      await nc.close();
    } finally {
      await server.stop();
    }
  });

  it("names a missing nats-server binary", async () => {
    const saved = process.env.TESSERA_NATS_SERVER;
    process.env.TESSERA_NATS_SERVER = "/nonexistent/nats-server";
    try {
      await expect(startNatsServer({ mode: "process" })).rejects.toMatchObject({
        code: "TESSERA_E_HARNESS_NO_BINARY",
      });
    } finally {
      if (saved === undefined) delete process.env.TESSERA_NATS_SERVER;
      else process.env.TESSERA_NATS_SERVER = saved;
    }
  });
});

describe("mode selection", () => {
  // Without TESSERA_HARNESS: mode.test.ts.
  it("rejects a bad TESSERA_HARNESS and obeys a good one", async () => {
    const saved = process.env.TESSERA_HARNESS;
    try {
      process.env.TESSERA_HARNESS = "vm";
      await expect(resolveMode()).rejects.toBeInstanceOf(HarnessError);
      process.env.TESSERA_HARNESS = "process";
      expect(await resolveMode()).toBe("process");
    } finally {
      if (saved === undefined) delete process.env.TESSERA_HARNESS;
      else process.env.TESSERA_HARNESS = saved;
    }
  });
});

describe("startNatsCluster", () => {
  let cluster: NatsCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it("forms a 3-node JetStream cluster; an R3 stream survives SIGKILL of a node, which rejoins", async () => {
    cluster = await startNatsCluster({ size: 3, mode });
    expect(cluster.urls).toHaveLength(3);
    expect(await cluster.waitForMetaLeader()).toMatch(/^n[123]$/);

    const nc = await connect({ servers: [...cluster.urls], maxReconnectAttempts: -1 });
    const jsm = await jetstreamManager(nc);
    // A cluster that just elected its meta leader may not answer the first stream create in
    // time on a loaded machine (seen once in a full test run); an identical re-add is a no-op.
    await waitFor(
      "the R3 stream to be created",
      async () => {
        await jsm.streams.add({ name: "R3", subjects: ["r3.>"], num_replicas: 3 });
        return true;
      },
      20_000,
      200,
    );
    const js = jetstream(nc, { timeout: 2_000 });
    await js.publish("r3.a", "1");

    const victim = cluster.servers[0]!;
    await victim.kill();
    expect(victim.running).toBe(false);
    // The stream may need a new leader; publishes succeed again within the election time.
    let published = 0;
    await waitFor(
      "a publish to the R3 stream with one node down",
      async () => {
        await js.publish("r3.b", "2", { msgID: "after-kill" });
        published++;
        return true;
      },
      20_000,
      200,
    );
    expect(published).toBe(1);

    await victim.restart();
    expect(victim.running).toBe(true);
    await cluster.waitForMetaLeader();
    // Rejoined = the restarted node holds a caught-up replica of the stream again.
    await waitFor(
      "the restarted node to catch up its replica",
      async () => (await getJsz(victim.monitorPort))?.messages === 2,
      20_000,
      200,
    );
    const info = await jsm.streams.info("R3");
    expect(info.state.messages).toBe(2);
    await nc.close();
  });
});
