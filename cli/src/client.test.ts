// The CLI's cluster client against real HTTP servers standing in for consensus peers.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ClusterClient } from "./client.js";
import { freePort } from "./dev-cluster.js";

const servers: Server[] = [];

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe("ClusterClient", () => {
  it("keeps asking while the followers still send it to a leader that was just killed", async () => {
    // The leader's port refuses connections (its process is gone); the follower redirects there
    // until it has elected a new leader, 3.5 s later, and then answers itself.
    const deadLeader = `http://127.0.0.1:${await freePort()}`;
    const electedAt = Date.now() + 3_500;
    const follower = await listen((_req, res) => {
      if (Date.now() < electedAt) {
        res.writeHead(307, { location: `${deadLeader}/v1/jobs/job-1` }).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end('{"jobId":"job-1"}');
    });
    const client = new ClusterClient([deadLeader, follower], { retryForMs: 10_000 });
    await expect(client.get("/v1/jobs/job-1")).resolves.toEqual({ jobId: "job-1" });
  });

  it("gives up when nothing answers at all, naming what it tried", async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const client = new ClusterClient([nobody], { retryForMs: 10_000 });
    await expect(client.get("/v1/cluster")).rejects.toThrow(
      `no Tessera server answered GET /v1/cluster; tried ${nobody} (`,
    );
  });

  it("says the leader did not answer when the peers only ever pointed at it", async () => {
    const deadLeader = `http://127.0.0.1:${await freePort()}`;
    const follower = await listen((_req, res) => {
      res.writeHead(307, { location: `${deadLeader}/v1/cluster` }).end();
    });
    const client = new ClusterClient([follower], { retryForMs: 1_500 });
    await expect(client.get("/v1/cluster")).rejects.toThrow(
      "the cluster did not answer GET /v1/cluster: its peers sent it to a leader that did not answer",
    );
  });
});
