// The agent's HTTP endpoints over HTTPS (a test CA's certificate): they answer a client that
// trusts that CA, name themselves https://, and answer nothing in the clear.
import { readFileSync } from "node:fs";
import { httpsGet, makeTestPki, type TestPki } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentHttp } from "./http.js";
import { createAgentMetrics } from "./metrics.js";

describe("agent HTTP endpoints over HTTPS", () => {
  let pki: TestPki;
  let http: AgentHttp;
  let ca: string;

  beforeAll(async () => {
    pki = await makeTestPki();
    ca = readFileSync(pki.caFile, "utf8");
    http = await AgentHttp.start(
      { host: "127.0.0.1", port: 0 },
      { nodeId: "agent-t", state: () => "draining", running: () => 1 },
      createAgentMetrics({ nodeId: "agent-t", pool: "cpu" }, () => 1),
      {
        cert: readFileSync(pki.serverCertFile, "utf8"),
        key: readFileSync(pki.serverKeyFile, "utf8"),
      },
    );
  });

  afterAll(async () => {
    await http?.close();
    await pki?.remove();
  });

  it("serves health, readiness and metrics over TLS", async () => {
    expect(http.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await httpsGet(`${http.url}/healthz`, { ca });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true, nodeId: "agent-t" });
    // Draining: not ready, so a load balancer stops sending it anything.
    expect((await httpsGet(`${http.url}/readyz`, { ca })).status).toBe(503);
    expect((await httpsGet(`${http.url}/metrics`, { ca })).body).toContain("tessera_agent_");
  });

  it("answers nothing in the clear", async () => {
    const plain = http.url.replace("https://", "http://");
    const res = await fetch(`${plain}/healthz`, { signal: AbortSignal.timeout(5_000) }).catch(
      (err: unknown) => err as Error,
    );
    expect(res).toBeInstanceOf(Error);
  });
});
