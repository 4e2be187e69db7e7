// The agent's HTTP face: /healthz (the process answers), /readyz (started and not draining) and
// /metrics (Prometheus text), over HTTPS with `--api-tls-cert/-key`. Agents take work from NATS,
// so nothing else is served here, and nothing here needs a token (probes, Prometheus).
import Fastify, { type FastifyInstance } from "fastify";
import { AgentError, AgentErrorCode } from "./errors.js";
import type { AgentState } from "./heartbeat.js";
import type { AgentMetrics } from "./metrics.js";

export interface AgentHttpSource {
  readonly nodeId: string;
  state(): AgentState;
  running(): number;
}

export class AgentHttp {
  private constructor(
    private readonly app: FastifyInstance,
    /** `http(s)://host:port` actually bound (port 0 resolved). */
    readonly url: string,
  ) {}

  static async start(
    listen: { host: string; port: number },
    source: AgentHttpSource,
    metrics: AgentMetrics,
    /** Serve HTTPS with this certificate and key (PEM); plain HTTP without. */
    tls?: { readonly cert: string; readonly key: string },
  ): Promise<AgentHttp> {
    // null: fastify makes a plain HTTP server.
    const app = Fastify({ logger: false, https: tls ? { cert: tls.cert, key: tls.key } : null });
    app.get("/healthz", async () => ({ ok: true, nodeId: source.nodeId, state: source.state() }));
    app.get("/readyz", async (_req, reply) => {
      const state = source.state();
      const ready = state !== "draining";
      return reply.code(ready ? 200 : 503).send({ ready, state, running: source.running() });
    });
    app.get("/metrics", async (_req, reply) =>
      reply
        .header("content-type", metrics.registry.contentType)
        .send(await metrics.registry.metrics()),
    );
    try {
      await app.listen({ host: listen.host, port: listen.port });
    } catch (err) {
      throw new AgentError(
        AgentErrorCode.Config,
        `--http ${listen.host}:${listen.port}: cannot listen: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const a = app.server.address();
    const scheme = tls ? "https" : "http";
    const url =
      a && typeof a === "object"
        ? `${scheme}://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`
        : `${scheme}://${listen.host}:${listen.port}`;
    return new AgentHttp(app, url);
  }

  close(): Promise<void> {
    return this.app.close();
  }
}
