// HTTP API of a consensus peer (fastify): the manifest client API, health, metrics and admin.
// Writes on a follower are answered with 307 to the same path on the leader (method and body are
// kept by 307) or, when the leader's HTTP address is unknown, 503 with the leader hint.
import { bearerRefusal, bearerVerifier, OPEN_HTTP_PATHS } from "@tessera/config";
import {
  MAX_COMMAND_BYTES,
  type ManifestCommand,
  ProtocolValidationError,
} from "@tessera/protocol";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { readBarrier, type ServiceContext } from "./context.js";
import { envelopeFor, parseEnvelope } from "./envelope.js";
import { ServiceError, ServiceErrorCode } from "./errors.js";
import type { ProposeOutcome } from "./proposer.js";
import { FINISHED_LATEST_MAX, parseConsistency, runQuery } from "./queries.js";

const HTTP_STATUS: Record<ServiceErrorCode, number> = {
  TESSERA_E_CONSENSUS_CONFIG: 400,
  TESSERA_E_CONSENSUS_NOT_LEADER: 503,
  TESSERA_E_CONSENSUS_BAD_REQUEST: 400,
  TESSERA_E_CONSENSUS_NOT_FOUND: 404,
  TESSERA_E_CONSENSUS_TIMEOUT: 504,
  TESSERA_E_CONSENSUS_UNAVAILABLE: 503,
  TESSERA_E_CONSENSUS_OUT_OF_RANGE: 410,
  TESSERA_E_CONSENSUS_FEATURE_LEVEL: 409,
  TESSERA_E_CONSENSUS_UNAUTHORIZED: 401,
  TESSERA_E_CONSENSUS_STOPPING: 503,
  TESSERA_E_CONSENSUS_INTERNAL: 500,
};

/** Manifest reply codes → HTTP status of a rejected command. */
function rejectionStatus(code: string): number {
  if (code.startsWith("unknown-")) return 404;
  if (code === "schema-error" || code === "oversized") return 400;
  return 409;
}

export interface HttpOptions {
  /** Serve HTTPS with this certificate and key (PEM); plain HTTP without. */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** With a token, every other route requires `Authorization: Bearer <token>` (401 otherwise). */
  readonly apiToken?: string;
  /** Called for every request refused for want of the token (metrics, a log line). */
  readonly onUnauthorized?: (reason: "missing" | "wrong", req: FastifyRequest) => void;
  /** Extra routes (e.g. admin peers/transfer) registered by the service. */
  readonly admin?: {
    addPeer(body: unknown): Promise<unknown>;
    removePeer(id: number): Promise<unknown>;
    transfer(to: number | undefined): Promise<unknown>;
  };
}

/**
 * A server-side exactly-once session for the convenience routes (POST /v1/jobs, job controls):
 * one clientId per process, seq assigned in proposal order. A caller that needs retries to be
 * exactly-once across its own failures sends its own envelope to POST /v1/commands.
 */
class HttpSession {
  readonly clientId: string;
  private seq = 0;
  private readonly done = new Set<number>();
  private acked = 0;

  constructor(peerId: number) {
    this.clientId = `http-${peerId}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  }

  next(): { seq: number; ackedSeq: number } {
    this.seq++;
    return { seq: this.seq, ackedSeq: this.acked };
  }

  complete(seq: number): void {
    this.done.add(seq);
    while (this.done.has(this.acked + 1)) this.done.delete(++this.acked);
  }
}

function noSuchJob(jobId: string): ServiceError {
  return new ServiceError(ServiceErrorCode.NotFound, `job ${JSON.stringify(jobId)} does not exist`);
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof ServiceError && err.code === ServiceErrorCode.NotLeader && err.leader?.http) {
    // Writes and linearizable reads alike: the same request on the leader will be served.
    return reply
      .code(307)
      .header("location", `${err.leader.http.replace(/\/$/, "")}${reply.request.url}`)
      .send({ error: { code: err.code, message: err.message, leader: err.leader } });
  }
  if (err instanceof ServiceError) {
    return reply.code(HTTP_STATUS[err.code]).send({
      error: {
        code: err.code,
        message: err.message,
        ...(err.leader ? { leader: err.leader } : {}),
      },
    });
  }
  if (err instanceof ProtocolValidationError) {
    return reply
      .code(400)
      .send({ error: { code: ServiceErrorCode.BadRequest, message: err.message } });
  }
  return reply.code(500).send({
    error: { code: ServiceErrorCode.Internal, message: (err as Error)?.message ?? String(err) },
  });
}

/** A query-string integer in [0, max]; a ServiceError (400) naming the parameter otherwise. */
function queryInt(value: unknown, name: string, max: number): number {
  const n = typeof value === "string" && /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new ServiceError(
      ServiceErrorCode.BadRequest,
      `${name}: must be an integer in [0, ${max}], got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Strips the envelope prefix from validation paths so a /v1/jobs body error names ITS field. */
function bodyError(err: unknown): unknown {
  if (err instanceof ProtocolValidationError) {
    const message = err.message.replaceAll("/cmd/", "/").replaceAll("/cmd:", "/:");
    return new ServiceError(ServiceErrorCode.BadRequest, message, { cause: err });
  }
  return err;
}

/** Refuses every request but OPEN_HTTP_PATHS without the token (bearerVerifier). */
function requireBearer(
  app: FastifyInstance,
  token: string,
  onUnauthorized: HttpOptions["onUnauthorized"],
): void {
  const verify = bearerVerifier(token);
  app.addHook("onRequest", async (req, reply) => {
    if (OPEN_HTTP_PATHS.has(req.url.split("?", 1)[0] ?? "")) return;
    const verdict = verify(req.headers.authorization);
    if (verdict === "ok") return;
    onUnauthorized?.(verdict, req);
    return reply
      .code(401)
      .header("www-authenticate", 'Bearer realm="tessera"')
      .send({ error: { code: ServiceErrorCode.Unauthorized, message: bearerRefusal(verdict) } });
  });
}

export async function createHttpServer(
  ctx: ServiceContext,
  options: HttpOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_COMMAND_BYTES * 2,
    // null: fastify makes a plain HTTP server.
    https: options.tls ? { cert: options.tls.cert, key: options.tls.key } : null,
  });
  const session = new HttpSession(ctx.self.id);
  const log = ctx.logger.child({ component: "http" });
  if (options.apiToken !== undefined) requireBearer(app, options.apiToken, options.onUnauthorized);

  // A body that is not JSON (or not an object) is a 400 naming the body, like any field.
  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) log.error({ err }, "http handler failed");
    void reply.code(status).send({
      error: {
        code: status < 500 ? ServiceErrorCode.BadRequest : ServiceErrorCode.Internal,
        message: `body: ${err.message}`,
      },
    });
  });

  /** Leader-only write: redirect (307) on a follower when the leader's URL is known. */
  const leaderOnly = (_req: FastifyRequest, reply: FastifyReply): boolean => {
    if (ctx.peer.isLeader()) return true;
    void sendError(reply, ctx.proposer.notLeader());
    return false;
  };

  const proposeCommand = async (cmd: ManifestCommand): Promise<ProposeOutcome> => {
    const { seq, ackedSeq } = session.next();
    let env: ReturnType<typeof parseEnvelope>;
    try {
      env = parseEnvelope(envelopeFor(cmd, session.clientId, seq, ackedSeq));
    } catch (err) {
      session.complete(seq); // never proposed: it must not hold back ackedSeq
      throw bodyError(err);
    }
    try {
      return await ctx.proposer.propose(new TextEncoder().encode(JSON.stringify(env)), "http");
    } finally {
      session.complete(seq);
    }
  };

  const sendOutcome = (reply: FastifyReply, r: ProposeOutcome, okStatus = 200): FastifyReply => {
    if (r.parsed.ok) {
      return reply.code(okStatus).send({ index: r.index, term: r.term, ...r.parsed });
    }
    return reply.code(rejectionStatus(r.parsed.code)).send({
      index: r.index,
      term: r.term,
      ...r.parsed,
      error: { code: r.parsed.code, message: r.parsed.reason },
    });
  };

  const consistencyOf = (req: FastifyRequest) =>
    parseConsistency((req.query as Record<string, unknown>)?.consistency, "?consistency");

  /** A read route: the request's `?consistency` barrier, then `read`; errors as HTTP errors. */
  const readRoute =
    <P = unknown>(read: (params: P, query: Record<string, unknown>) => unknown) =>
    async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply) => {
      try {
        await readBarrier(ctx, consistencyOf(req));
        return reply.send(read(req.params as P, (req.query ?? {}) as Record<string, unknown>));
      } catch (err) {
        return sendError(reply, err);
      }
    };

  // ---- manifest ----
  app.post("/v1/jobs", async (req, reply) => {
    if (!leaderOnly(req, reply)) return reply;
    try {
      const body = req.body;
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new ServiceError(
          ServiceErrorCode.BadRequest,
          "body: must be a JSON object {jobId?, spec, maxAttempts?}",
        );
      }
      const r = await proposeCommand({
        ...(body as object),
        type: "submit-job",
      } as ManifestCommand);
      return sendOutcome(reply, r, 201);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get(
    "/v1/jobs",
    // ?finished=N: every unfinished job and only the N most recently finished (`tessera top`).
    readRoute((_params, { finished }) => ({
      appliedIndex: ctx.readModel.appliedIndex,
      jobs: runQuery(ctx.readModel, {
        type: "jobs",
        ...(finished === undefined || finished === ""
          ? {}
          : { finishedLatest: queryInt(finished, "?finished", FINISHED_LATEST_MAX) }),
      }),
    })),
  );

  app.get<{ Params: { id: string } }>(
    "/v1/jobs/:id",
    readRoute<{ id: string }>(({ id }) => {
      const job = ctx.readModel.job(id);
      if (job === undefined || job === null) throw noSuchJob(id);
      return job;
    }),
  );

  // One task: its state, live attempts and output (uri, checksum): what a client needs to reach
  // a job's outputs in storage without being told where they are (`tessera verify`).
  app.get<{ Params: { id: string; taskId: string } }>(
    "/v1/jobs/:id/tasks/:taskId",
    readRoute<{ id: string; taskId: string }>(({ id, taskId }) => {
      const task = ctx.readModel.task(id, taskId);
      if (task !== undefined) return task;
      if (!ctx.readModel.job(id)) throw noSuchJob(id);
      throw new ServiceError(
        ServiceErrorCode.NotFound,
        `task ${JSON.stringify(taskId)} of job ${JSON.stringify(id)} does not exist`,
      );
    }),
  );

  // A job's live attempts: which tasks run now, since when, which are speculative, and their node
  // once one is bound (attempts go to a pool's shared consumer: claim or completion binds it).
  app.get<{ Params: { id: string } }>(
    "/v1/jobs/:id/attempts",
    readRoute<{ id: string }>(({ id }) => {
      const attempts = ctx.readModel.attempts(id);
      if (attempts === undefined) throw noSuchJob(id);
      return { appliedIndex: ctx.readModel.appliedIndex, attempts };
    }),
  );

  for (const action of ["pause", "resume", "cancel", "delete"] as const) {
    app.post<{ Params: { id: string } }>(`/v1/jobs/:id/${action}`, async (req, reply) => {
      if (!leaderOnly(req, reply)) return reply;
      try {
        const r = await proposeCommand({ type: "job-control", jobId: req.params.id, action });
        return sendOutcome(reply, r);
      } catch (err) {
        return sendError(reply, err);
      }
    });
  }

  app.post("/v1/commands", async (req, reply) => {
    if (!leaderOnly(req, reply)) return reply;
    try {
      const env = parseEnvelope(req.body);
      const r = await ctx.proposer.propose(new TextEncoder().encode(JSON.stringify(env)), "http");
      return sendOutcome(reply, r);
    } catch (err) {
      return sendError(reply, err);
    }
  });

  app.get(
    "/v1/nodes",
    readRoute(() => ({
      appliedIndex: ctx.readModel.appliedIndex,
      nodes: runQuery(ctx.readModel, { type: "nodes" }),
    })),
  );

  app.get("/v1/cluster", async (req, reply) => {
    const s = ctx.peer.status();
    // The digest hashes the whole manifest: only on request (`?digest=1`), so status polling by
    // dashboards and the CLI stays cheap.
    const { digest } = req.query as { digest?: string };
    const withDigest = digest === "1" || digest === "true";
    const leader = ctx.directory.leader();
    return reply.send({
      id: s.id,
      role: s.role,
      term: s.term,
      leader: leader ?? null,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      snapshotIndex: s.snapshotIndex,
      featureLevel: ctx.readModel.featureLevel,
      ...(withDigest ? { digest: ctx.readModel.digest() } : {}),
      peers: s.members.map((m) => {
        const addr = ctx.directory.address(m.id);
        return {
          id: m.id,
          voter: m.voter,
          role: m.id === s.leaderId ? "leader" : m.voter ? "follower" : "learner",
          grpc: addr?.grpc,
          http: addr?.http,
          // Known on the leader only (its replication progress); followers report their own.
          matchIndex: m.matchIndex ?? (m.id === s.id ? s.commitIndex : undefined),
          appliedIndex: m.id === s.id ? s.appliedIndex : undefined,
        };
      }),
    });
  });

  // ---- health ----
  app.get("/healthz", async (_req, reply) => reply.send({ ok: true, id: ctx.self.id }));
  app.get("/readyz", async (_req, reply) => {
    const s = ctx.peer.status();
    const nats = ctx.natsState();
    // With --nats, ready also means the streams exist: a client may publish commands at once.
    const ready = s.leaderId !== 0 && s.appliedIndex >= s.commitIndex && nats !== "connecting";
    return reply.code(ready ? 200 : 503).send({
      ready,
      leaderId: s.leaderId,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      nats,
    });
  });
  app.get("/metrics", async (_req, reply) =>
    reply.header("content-type", ctx.metrics.registry.contentType).send(await ctx.metrics.render()),
  );

  // ---- admin ----
  app.get("/admin/faults", async (_req, reply) => {
    if (!ctx.faults)
      return sendError(
        reply,
        new ServiceError(
          ServiceErrorCode.Unavailable,
          "fault injection is not available on this peer",
        ),
      );
    return reply.send(ctx.faults.get());
  });
  app.put("/admin/faults", async (req, reply) => {
    if (!ctx.faults)
      return sendError(
        reply,
        new ServiceError(
          ServiceErrorCode.Unavailable,
          "fault injection is not available on this peer",
        ),
      );
    try {
      return reply.send(ctx.faults.set(req.body));
    } catch (err) {
      return sendError(
        reply,
        err instanceof ServiceError
          ? err
          : new ServiceError(ServiceErrorCode.BadRequest, (err as Error).message, { cause: err }),
      );
    }
  });
  const admin = options.admin;
  if (admin) {
    app.post("/admin/peers", async (req, reply) => {
      if (!leaderOnly(req, reply)) return reply;
      try {
        return reply.send(await admin.addPeer(req.body));
      } catch (err) {
        return sendError(reply, err);
      }
    });
    app.delete<{ Params: { id: string } }>("/admin/peers/:id", async (req, reply) => {
      if (!leaderOnly(req, reply)) return reply;
      const id = Number(req.params.id);
      if (!Number.isSafeInteger(id) || id < 1) {
        return sendError(
          reply,
          new ServiceError(
            ServiceErrorCode.BadRequest,
            `:id: must be a positive peer id, got ${JSON.stringify(req.params.id)}`,
          ),
        );
      }
      try {
        return reply.send(await admin.removePeer(id));
      } catch (err) {
        return sendError(reply, err);
      }
    });
    app.post("/admin/transfer", async (req, reply) => {
      if (!leaderOnly(req, reply)) return reply;
      const to = (req.body as { to?: unknown } | undefined)?.to;
      if (to !== undefined && (typeof to !== "number" || !Number.isSafeInteger(to) || to < 1)) {
        return sendError(
          reply,
          new ServiceError(ServiceErrorCode.BadRequest, "to: must be a positive peer id"),
        );
      }
      try {
        return reply.send(await admin.transfer(to as number | undefined));
      } catch (err) {
        return sendError(reply, err);
      }
    });
  }
  return app;
}
