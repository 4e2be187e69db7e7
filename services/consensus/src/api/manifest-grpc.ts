// gRPC service tessera.manifest.v1.Manifest (libs/protocol/proto/manifest.proto), served on the
// peer's shared gRPC server next to the Raft service. Payloads are the JSON documents of
// libs/protocol; errors are gRPC statuses with `tessera-*` metadata (see the .proto header).
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { PROTO_DIR } from "@tessera/protocol";
import { readBarrier, type ServiceContext } from "./context.js";
import { ServiceError, ServiceErrorCode } from "./errors.js";
import { parseConsistency, parseQuery, runQuery } from "./queries.js";

export const MANIFEST_PROTO_PATH = join(PROTO_DIR, "manifest.proto");
export const MANIFEST_SERVICE_NAME = "tessera.manifest.v1.Manifest";

/** Metadata keys of a NOT_LEADER answer (and of every ServiceError status). */
export const META = {
  code: "tessera-code",
  leaderId: "tessera-leader-id",
  leaderGrpc: "tessera-leader-grpc",
  leaderHttp: "tessera-leader-http",
} as const;

// Wire shapes as proto-loader presents them (longs as numbers, enums as strings).
export interface ProposeRequestWire {
  command: Uint8Array;
}
export interface ProposeReplyWire {
  index: number;
  term: number;
  reply: Uint8Array;
}
export interface ProposeStreamRequestWire {
  id: number;
  command: Uint8Array;
  /** Coalesced commands; when non-empty, id and command are unused (see manifest.proto). */
  batch?: ProposeStreamRequestWire[];
}
export interface ProposeStreamReplyWire {
  /** Coalesced replies to batched commands; when non-empty, the other fields are unused. */
  batch?: ProposeStreamReplyWire[];
  id: number;
  index: number;
  term: number;
  reply: Uint8Array;
  errorCode: string;
  errorMessage: string;
  leaderId: number;
  leaderGrpc: string;
  leaderHttp: string;
}
export type ConsistencyWire = "CONSISTENCY_UNSPECIFIED" | "LINEARIZABLE" | "STALE";
export interface ReadRequestWire {
  query: Uint8Array;
  consistency: ConsistencyWire;
}
export interface ReadReplyWire {
  appliedIndex: number;
  result: Uint8Array;
}
export interface WatchRequestWire {
  fromIndex: number;
}
export interface EventBatchWire {
  index: number;
  subject: string;
  batch: Uint8Array;
}
export interface InfoReplyWire {
  id: number;
  grpc: string;
  http: string;
  role: string;
  term: number;
  leaderId: number;
  leaderGrpc: string;
  leaderHttp: string;
  commitIndex: number;
  appliedIndex: number;
  /** 0 (the proto3 default) from a peer that predates feature levels. */
  featureLevel: number;
  clusterFeatureLevel: number;
}

let cached: grpc.ServiceDefinition | undefined;

/** The Manifest service definition, loaded once from manifest.proto. */
export function manifestServiceDefinition(): grpc.ServiceDefinition {
  if (!cached) {
    const def = protoLoader.loadSync(MANIFEST_PROTO_PATH, {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    cached = def[MANIFEST_SERVICE_NAME] as unknown as grpc.ServiceDefinition;
    if (!cached) throw new Error(`${MANIFEST_PROTO_PATH} does not define ${MANIFEST_SERVICE_NAME}`);
  }
  return cached;
}

/** The gRPC status each service error travels as. */
export const GRPC_CODE: Record<ServiceErrorCode, grpc.status> = {
  TESSERA_E_CONSENSUS_CONFIG: grpc.status.INVALID_ARGUMENT,
  TESSERA_E_CONSENSUS_NOT_LEADER: grpc.status.FAILED_PRECONDITION,
  TESSERA_E_CONSENSUS_BAD_REQUEST: grpc.status.INVALID_ARGUMENT,
  TESSERA_E_CONSENSUS_NOT_FOUND: grpc.status.NOT_FOUND,
  TESSERA_E_CONSENSUS_TIMEOUT: grpc.status.DEADLINE_EXCEEDED,
  TESSERA_E_CONSENSUS_UNAVAILABLE: grpc.status.UNAVAILABLE,
  TESSERA_E_CONSENSUS_OUT_OF_RANGE: grpc.status.OUT_OF_RANGE,
  TESSERA_E_CONSENSUS_FEATURE_LEVEL: grpc.status.FAILED_PRECONDITION,
  TESSERA_E_CONSENSUS_UNAUTHORIZED: grpc.status.UNAUTHENTICATED,
  TESSERA_E_CONSENSUS_STOPPING: grpc.status.UNAVAILABLE,
  TESSERA_E_CONSENSUS_INTERNAL: grpc.status.INTERNAL,
};

function asServiceError(err: unknown): ServiceError {
  return err instanceof ServiceError
    ? err
    : new ServiceError(ServiceErrorCode.Internal, (err as Error)?.message ?? String(err), {
        cause: err,
      });
}

/** ServiceError (or anything) → a gRPC status carrying the code and the leader's address. */
export function toGrpcStatus(err: unknown): Partial<grpc.StatusObject> {
  const e = asServiceError(err);
  const metadata = new grpc.Metadata();
  metadata.set(META.code, e.code);
  if (e.leader) {
    metadata.set(META.leaderId, String(e.leader.id));
    if (e.leader.grpc) metadata.set(META.leaderGrpc, e.leader.grpc);
    if (e.leader.http) metadata.set(META.leaderHttp, e.leader.http);
  }
  return { code: GRPC_CODE[e.code], details: e.message, metadata };
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Handlers of the Manifest service over `ctx`. */
export function manifestHandlers(ctx: ServiceContext): grpc.UntypedServiceImplementation {
  const log = ctx.logger.child({ component: "manifest-grpc" });

  const propose: grpc.handleUnaryCall<ProposeRequestWire, ProposeReplyWire> = (call, cb) => {
    const bytes = call.request.command;
    void (async () => {
      // Not-leader first: a follower must not spend time validating what it will not propose.
      if (!ctx.peer.isLeader()) throw ctx.proposer.notLeader();
      ctx.proposer.validate(bytes);
      const r = await ctx.proposer.propose(bytes, "grpc");
      return { index: r.index, term: r.term, reply: r.reply };
    })().then(
      (reply) => cb(null, reply),
      (err: unknown) => cb(toGrpcStatus(err)),
    );
  };

  // Each command is proposed as it arrives; the peer folds those arriving during one fsync into
  // one Raft batch. Replies go out as commands apply: singly for a single command, coalesced
  // (those settled in one turn of the event loop) for commands that came in a batch. The stream
  // ends once the client has half-closed and every reply is written.
  const proposeStream: grpc.handleBidiStreamingCall<
    ProposeStreamRequestWire,
    ProposeStreamReplyWire
  > = (call) => {
    let inFlight = 0;
    let clientDone = false;
    let gone = false;
    let coalesced: ProposeStreamReplyWire[] = [];
    const finish = () => {
      if (clientDone && inFlight === 0 && coalesced.length === 0 && !gone) {
        gone = true;
        call.end();
      }
    };
    const flush = () => {
      const batch = coalesced;
      coalesced = [];
      if (batch.length > 0 && !gone) call.write({ ...STREAM_REPLY_DEFAULTS, id: 0, batch });
      finish();
    };
    const answer = (req: ProposeStreamRequestWire, batched: boolean) => {
      inFlight++;
      void (async () => {
        if (!ctx.peer.isLeader()) throw ctx.proposer.notLeader();
        ctx.proposer.validate(req.command);
        return ctx.proposer.propose(req.command, "grpc");
      })()
        .then(
          (r): ProposeStreamReplyWire => ({
            ...STREAM_REPLY_DEFAULTS,
            id: req.id,
            index: r.index,
            term: r.term,
            reply: r.reply,
          }),
          (err: unknown): ProposeStreamReplyWire => ({
            ...STREAM_REPLY_DEFAULTS,
            id: req.id,
            ...streamErrorFields(err),
          }),
        )
        .then((reply) => {
          inFlight--;
          if (!batched) {
            if (!gone) call.write(reply);
            finish();
            return;
          }
          // Replies settled by one apply loop resolve in the same turn: one message for all,
          // sent at the turn's end, or at once when no other command is outstanding.
          coalesced.push(reply);
          if (inFlight === 0) flush();
          else if (coalesced.length === 1) setImmediate(flush);
        });
    };
    call.on("data", (req: ProposeStreamRequestWire) => {
      const batch = req.batch ?? [];
      if (batch.length === 0) answer(req, false);
      else for (const item of batch) answer(item, true);
    });
    call.on("end", () => {
      clientDone = true;
      finish();
    });
    call.on("cancelled", () => {
      gone = true;
    });
    call.on("error", (err) => {
      gone = true;
      log.debug({ err }, "propose stream failed");
    });
  };

  const read: grpc.handleUnaryCall<ReadRequestWire, ReadReplyWire> = (call, cb) => {
    void (async () => {
      let query: unknown;
      try {
        query = JSON.parse(decoder.decode(call.request.query));
      } catch (err) {
        throw new ServiceError(
          ServiceErrorCode.BadRequest,
          `query: is not valid JSON (${(err as Error).message})`,
        );
      }
      const q = parseQuery(query);
      await readBarrier(ctx, parseConsistency(call.request.consistency));
      const result = runQuery(ctx.readModel, q);
      return {
        appliedIndex: ctx.readModel.appliedIndex,
        result: encoder.encode(JSON.stringify(result)),
      };
    })().then(
      (reply) => cb(null, reply),
      (err: unknown) => cb(toGrpcStatus(err)),
    );
  };

  const watch: grpc.handleServerStreamingCall<WatchRequestWire, EventBatchWire> = (call) => {
    const from = call.request.fromIndex;
    const covered = ctx.ringCoveredFrom();
    if (from > 0 && from < covered) {
      call.emit(
        "error",
        toGrpcStatus(
          new ServiceError(
            ServiceErrorCode.OutOfRange,
            `index ${from} is older than this peer's event ring (it holds every batch from index ${covered}); read TESSERA_EVENTS instead`,
          ),
        ) as grpc.ServiceError,
      );
      return;
    }
    // Live batches are buffered while the backlog is written; a client that falls too far
    // behind is cut off rather than growing this peer's memory without bound.
    const maxPending = 10_000;
    const pending: EventBatchWire[] = [];
    // from 0 = live only: start after the newest batch held now.
    let last = from > 0 ? from - 1 : (ctx.ring.newestIndex ?? 0);
    let blocked = false;
    const flush = () => {
      while (!blocked && pending.length > 0) {
        const item = pending.shift() as EventBatchWire;
        if (!call.write(item)) blocked = true;
      }
    };
    const offer = (r: { index: number; subject: string; body: Uint8Array }) => {
      if (r.index <= last) return;
      last = r.index;
      pending.push({ index: r.index, subject: r.subject, batch: r.body });
      if (pending.length > maxPending) {
        unsubscribe();
        call.emit(
          "error",
          toGrpcStatus(
            new ServiceError(
              ServiceErrorCode.Unavailable,
              "watcher too slow; resume from the last index received",
            ),
          ) as grpc.ServiceError,
        );
        return;
      }
      flush();
    };
    const unsubscribe = ctx.ring.subscribe(offer);
    if (from > 0) for (const r of ctx.ring.since(from)) offer(r);
    call.on("drain", () => {
      blocked = false;
      flush();
    });
    call.on("cancelled", unsubscribe);
    call.on("close", unsubscribe);
    call.on("error", unsubscribe);
    log.debug({ from }, "watch started");
  };

  const info: grpc.handleUnaryCall<Record<string, never>, InfoReplyWire> = (_call, cb) => {
    const s = ctx.peer.status();
    const leader = ctx.directory.leader();
    cb(null, {
      id: ctx.self.id,
      grpc: ctx.self.grpc,
      http: ctx.self.http,
      role: s.role,
      term: s.term,
      leaderId: s.leaderId,
      leaderGrpc: leader?.grpc ?? "",
      leaderHttp: leader?.http ?? "",
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      featureLevel: ctx.readModel.featureLevel.supported,
      clusterFeatureLevel: ctx.readModel.featureLevel.cluster,
    });
  };

  return {
    Propose: propose,
    ProposeStream: proposeStream,
    Read: read,
    Watch: watch,
    Info: info,
  } as grpc.UntypedServiceImplementation;
}

/** Registers the Manifest service on the peer's (shared) gRPC server. */
export function registerManifestService(server: grpc.Server, ctx: ServiceContext): void {
  server.addService(manifestServiceDefinition(), manifestHandlers(ctx));
}

const STREAM_REPLY_DEFAULTS: Omit<ProposeStreamReplyWire, "id"> = {
  index: 0,
  term: 0,
  reply: new Uint8Array(0),
  errorCode: "",
  errorMessage: "",
  leaderId: 0,
  leaderGrpc: "",
  leaderHttp: "",
};

/** A failed streamed command: the error's code, message and leader hint as reply fields. */
function streamErrorFields(
  err: unknown,
): Pick<
  ProposeStreamReplyWire,
  "errorCode" | "errorMessage" | "leaderId" | "leaderGrpc" | "leaderHttp"
> {
  const e = asServiceError(err);
  return {
    errorCode: e.code,
    errorMessage: e.message,
    leaderId: e.leader?.id ?? 0,
    leaderGrpc: e.leader?.grpc ?? "",
    leaderHttp: e.leader?.http ?? "",
  };
}
