import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerTempDir } from "./cleanup.js";
import type { NatsServerSecurity } from "./nats-config.js";
import { NatsProcessNode } from "./nats-process.js";
import { freePorts } from "./ports.js";
import type { NatsCluster, NatsServer } from "./types.js";
import { metaLeader, waitFor } from "./wait.js";

/** Process mode: nats-server children on free ports with temp store dirs. */

const START_ATTEMPTS = 5;

function portRaceLost(nodes: NatsProcessNode[]): boolean {
  return nodes.some((n) => n.log.includes("address already in use"));
}

export async function startLocalServer(
  readyTimeoutMs: number,
  jetstream = true,
  security?: NatsServerSecurity,
): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), "tessera-nats-"));
  const unregisterDir = registerTempDir(dir);
  for (let attempt = 1; ; attempt++) {
    const [port, monitorPort] = (await freePorts(2)) as [number, number];
    const node = new NatsProcessNode(
      {
        name: "nats-0",
        port,
        monitorPort,
        storeDir: join(dir, "store"),
        jetstream,
        ...(security ? { security } : {}),
      },
      dir,
      readyTimeoutMs,
    );
    try {
      await node.spawn();
      await node.waitReady();
    } catch (err) {
      await node.kill();
      // Someone took a port between our probe and the server's bind: try fresh ports.
      if (attempt < START_ATTEMPTS && portRaceLost([node])) continue;
      await rm(dir, { recursive: true, force: true });
      unregisterDir();
      throw err;
    }
    return Object.assign(node, {
      mode: "process" as const,
      async stop() {
        await node.shutdown();
        await rm(dir, { recursive: true, force: true });
        unregisterDir();
      },
    });
  }
}

/** Every running member agrees on one non-empty meta leader; returns its name. */
export async function waitForAgreedLeader(
  monitorPorts: () => number[],
  timeoutMs: number,
): Promise<string> {
  let leader = "";
  await waitFor(
    "a JetStream meta leader agreed by every running member",
    async () => {
      const seen = await Promise.all(monitorPorts().map((p) => metaLeader(p)));
      leader = seen[0] ?? "";
      return leader !== "" && seen.every((l) => l === leader);
    },
    timeoutMs,
    100,
  );
  return leader;
}

export async function startLocalCluster(
  size: number,
  readyTimeoutMs: number,
): Promise<NatsCluster> {
  const dir = await mkdtemp(join(tmpdir(), "tessera-natsc-"));
  const unregisterDir = registerTempDir(dir);
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(3 * size);
    const clusterPorts = ports.slice(2 * size);
    const nodes = Array.from({ length: size }, (_, i) => {
      const name = `n${i + 1}`;
      return new NatsProcessNode(
        {
          name,
          port: ports[i]!,
          monitorPort: ports[size + i]!,
          storeDir: join(dir, name),
          cluster: {
            name: "tessera",
            port: clusterPorts[i]!,
            routes: clusterPorts.filter((_, j) => j !== i),
          },
        },
        dir,
        readyTimeoutMs,
      );
    });
    const running = () => nodes.filter((n) => n.running).map((n) => n.monitorPort);
    try {
      // Spawn all before waiting: a member cannot finish JetStream start-up alone.
      for (const node of nodes) await node.spawn();
      await Promise.all(nodes.map((n) => n.waitReady()));
      await waitForAgreedLeader(running, readyTimeoutMs);
    } catch (err) {
      await Promise.all(nodes.map((n) => n.kill()));
      if (attempt < START_ATTEMPTS && portRaceLost(nodes)) continue;
      await rm(dir, { recursive: true, force: true });
      unregisterDir();
      throw err;
    }
    return {
      mode: "process",
      servers: nodes,
      urls: nodes.map((n) => n.url),
      waitForMetaLeader: (timeoutMs = readyTimeoutMs) => waitForAgreedLeader(running, timeoutMs),
      async stop() {
        await Promise.all(nodes.map((n) => n.shutdown()));
        await rm(dir, { recursive: true, force: true });
        unregisterDir();
      },
    };
  }
}
