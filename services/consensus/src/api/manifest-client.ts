// A small typed client of tessera.manifest.v1.Manifest for tests, benchmarks and the CLI.
//
// Exactly-once: every propose() takes the next seq of this client's session and keeps it across
// retries (leader redirects, timeouts, a dead leader), so a command whose first attempt did
// commit is answered from the manifest's session table instead of running twice. `ackedSeq`
// tells the manifest which replies it may forget: the highest seq up to which every reply has
// been received.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { CommandEnvelope, ManifestCommand } from "@tessera/protocol";
import { type ClusterTls, clusterChannel } from "../transport/cluster-tls.js";
import { ServiceError, ServiceErrorCode } from "./errors.js";
import {
  type ConsistencyWire,
  type EventBatchWire,
  type InfoReplyWire,
  META,
  manifestServiceDefinition,
  type ProposeReplyWire,
  type ReadReplyWire,
} from "./manifest-grpc.js";
import { ProposeStream } from "./propose-stream.js";
import type { ReplyJson } from "./proposer.js";
import { parseReply } from "./proposer.js";
import type { Consistency, ManifestQuery } from "./queries.js";

export interface ManifestClientOptions {
  /** gRPC host:port of one or more peers (any of them; leaders are found by redirect). */
  readonly peers: readonly string[];
  /** Session id (1..64 chars). Default: a random UUID. Reuse it only with the same seq stream. */
  readonly clientId?: string;
  /** Total time one call may take across retries (default 10 s). */
  readonly timeoutMs?: number;
  /** Deadline of one RPC attempt (default 3 s). */
  readonly attemptTimeoutMs?: number;
  /** The cluster's mutual TLS (`loadClusterTls`); absent = plaintext. */
  readonly tls?: ClusterTls;
}

export interface ProposeResponse {
  readonly index: number;
  readonly term: number;
  readonly reply: ReplyJson;
  /** RPC attempts it took (1 = no retry). */
  readonly attempts: number;
}

export interface WatchedBatch {
  readonly index: number;
  readonly subject: string;
  /** The parsed ManifestEventBatchV1. */
  readonly batch: unknown;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Method = grpc.MethodDefinition<unknown, unknown>;

/** Statuses after which another peer (or the same one later) may succeed. */
const RETRYABLE = new Set<number>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.CANCELLED,
  grpc.status.UNKNOWN,
  grpc.status.INTERNAL,
  grpc.status.RESOURCE_EXHAUSTED,
]);

export class ManifestClient {
  readonly clientId: string;
  private readonly peers: string[];
  private readonly clients = new Map<string, grpc.Client>();
  private readonly streams = new Map<string, ProposeStream>();
  private readonly def = manifestServiceDefinition();
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private leader: string | undefined;
  private next = 0;
  private seq = 0;
  private acked = 0;
  private readonly done = new Set<number>();
  private closed = false;
  private readonly tls: ClusterTls | undefined;

  constructor(options: ManifestClientOptions) {
    if (options.peers.length === 0) {
      throw new ServiceError(
        ServiceErrorCode.BadRequest,
        "peers: must name at least one host:port",
      );
    }
    this.peers = [...options.peers];
    this.clientId = options.clientId ?? randomUUID();
    if (this.clientId.length === 0 || this.clientId.length > 64) {
      throw new ServiceError(ServiceErrorCode.BadRequest, "clientId: must be 1..64 characters");
    }
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 3_000;
    this.tls = options.tls;
  }

  /** The peer believed to be the leader (after the first successful propose). */
  get leaderAddress(): string | undefined {
    return this.leader;
  }

  /** Proposes `cmd` exactly once (see the file comment); resolves with the manifest's reply. */
  async propose(cmd: ManifestCommand): Promise<ProposeResponse> {
    const seq = ++this.seq;
    const env: CommandEnvelope = { v: 1, clientId: this.clientId, seq, ackedSeq: this.acked, cmd };
    try {
      return await this.proposeEnvelope(env);
    } finally {
      // Replied or given up: either way the caller is no longer waiting for this seq.
      this.done.add(seq);
      while (this.done.has(this.acked + 1)) this.done.delete(++this.acked);
    }
  }

  /** Proposes a caller-built envelope (its own clientId/seq), with the same retries. */
  async proposeEnvelope(env: CommandEnvelope): Promise<ProposeResponse> {
    const command = encoder.encode(JSON.stringify(env));
    // Over the peer's ProposeStream: concurrent proposals of this client share one stream.
    const { value, attempts } = await this.withRetries<ProposeReplyWire>(
      "Propose",
      (peer, timeoutMs) => this.proposeStream(peer).propose(command, timeoutMs),
      true,
    );
    return { index: value.index, term: value.term, reply: parseReply(value.reply), attempts };
  }

  /** Reads the manifest (linearizable by default; "stale" answers from any peer at once). */
  async read(
    query: ManifestQuery,
    consistency: Consistency = "linearizable",
  ): Promise<{ appliedIndex: number; result: unknown }> {
    const wire: ConsistencyWire = consistency === "stale" ? "STALE" : "LINEARIZABLE";
    const request = { query: encoder.encode(JSON.stringify(query)), consistency: wire };
    const { value } = await this.withRetries<ReadReplyWire>(
      "Read",
      (peer, timeoutMs) => this.unary(peer, "Read", request, timeoutMs),
      consistency !== "stale",
    );
    return { appliedIndex: value.appliedIndex, result: JSON.parse(decoder.decode(value.result)) };
  }

  /** One peer's identity and view (default: the first peer). */
  async info(peer?: string): Promise<InfoReplyWire> {
    return this.unary<InfoReplyWire>(peer ?? (this.peers[0] as string), "Info", {});
  }

  /**
   * Committed event batches from `fromIndex` (0 = live only) from one peer's event ring, in
   * index order. Ends when `signal` aborts; throws the gRPC error when the stream fails.
   */
  async *watch(
    fromIndex: number,
    signal?: AbortSignal,
    peer?: string,
  ): AsyncGenerator<WatchedBatch> {
    const address = peer ?? this.leader ?? (this.peers[0] as string);
    const method = this.method("Watch");
    const call = this.client(address).makeServerStreamRequest(
      method.path,
      method.requestSerialize as (v: unknown) => Buffer,
      method.responseDeserialize as (b: Buffer) => unknown,
      { fromIndex },
    );
    const queue: EventBatchWire[] = [];
    let failure: unknown;
    let ended = false;
    let wake: (() => void) | undefined;
    call.on("data", (d: EventBatchWire) => {
      queue.push(d);
      wake?.();
    });
    call.on("error", (err) => {
      failure = err;
      wake?.();
    });
    call.on("end", () => {
      ended = true;
      wake?.();
    });
    const onAbort = () => call.cancel();
    signal?.addEventListener("abort", onAbort);
    try {
      while (true) {
        const item = queue.shift();
        if (item) {
          yield {
            index: item.index,
            subject: item.subject,
            batch: JSON.parse(decoder.decode(item.batch)),
          };
          continue;
        }
        if (signal?.aborted) return;
        if (failure) {
          if ((failure as grpc.ServiceError).code === grpc.status.CANCELLED && signal?.aborted)
            return;
          throw this.toError(failure);
        }
        if (ended) return;
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      call.cancel();
    }
  }

  close(): void {
    this.closed = true;
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  // ---- internals ----

  private method(name: string): Method {
    const m = this.def[name] as Method | undefined;
    if (!m)
      throw new ServiceError(ServiceErrorCode.Internal, `manifest.proto has no method ${name}`);
    return m;
  }

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (!c) {
      const channel = clusterChannel(address, this.tls);
      c = new grpc.Client(address, channel.credentials, {
        ...channel.options,
        // Fail fast on a dead peer so the retry loop moves on instead of waiting for backoff.
        "grpc.initial_reconnect_backoff_ms": 50,
        "grpc.max_reconnect_backoff_ms": 1_000,
        // No per-call channelz bookkeeping (nothing reads it).
        "grpc.enable_channelz": 0,
      });
      this.clients.set(address, c);
    }
    return c;
  }

  private proposeStream(address: string): ProposeStream {
    let s = this.streams.get(address);
    if (!s) {
      s = new ProposeStream(this.client(address), address);
      this.streams.set(address, s);
    }
    return s;
  }

  private unary<T>(
    address: string,
    name: string,
    request: unknown,
    timeoutMs = this.attemptTimeoutMs,
  ): Promise<T> {
    const m = this.method(name);
    return new Promise<T>((resolve, reject) => {
      this.client(address).makeUnaryRequest(
        m.path,
        m.requestSerialize as (v: unknown) => Buffer,
        m.responseDeserialize as (b: Buffer) => T,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err ? reject(err) : resolve(value as T)),
      );
    });
  }

  /**
   * Calls `attempt` (one RPC to one peer) until it succeeds, following NOT_LEADER hints (when
   * `leaderOnly`) and moving to the next peer on transport errors, within the overall timeout.
   */
  private async withRetries<T>(
    name: string,
    attempt: (peer: string, timeoutMs: number) => Promise<T>,
    leaderOnly: boolean,
  ): Promise<{ value: T; attempts: number }> {
    const deadline = Date.now() + this.timeoutMs;
    let attempts = 0;
    let backoff = 10;
    let lastError: unknown;
    while (!this.closed && Date.now() < deadline) {
      const target =
        (leaderOnly ? this.leader : undefined) ??
        (this.peers[this.next % this.peers.length] as string);
      attempts++;
      try {
        const value = await attempt(
          target,
          Math.max(1, Math.min(this.attemptTimeoutMs, deadline - Date.now())),
        );
        if (leaderOnly) this.leader = target;
        return { value, attempts };
      } catch (err) {
        lastError = err;
        const e = err as grpc.ServiceError;
        const code = e.metadata?.get(META.code)[0];
        if (code === ServiceErrorCode.NotLeader) {
          const hinted = e.metadata.get(META.leaderGrpc)[0];
          if (typeof hinted === "string" && hinted !== "" && hinted !== target) {
            this.leader = hinted;
            if (!this.peers.includes(hinted)) this.peers.push(hinted);
            continue; // a known leader: go there at once
          }
          this.moveOn(target);
        } else if (RETRYABLE.has(e.code) || code === ServiceErrorCode.Unavailable) {
          this.moveOn(target);
        } else {
          throw this.toError(err);
        }
        await sleep(Math.min(backoff, Math.max(0, deadline - Date.now())));
        backoff = Math.min(500, backoff * 2);
      }
    }
    throw new ServiceError(
      ServiceErrorCode.Timeout,
      `${name} did not succeed within ${this.timeoutMs} ms after ${attempts} attempts: ${(lastError as Error)?.message ?? "client closed"}`,
      { cause: lastError },
    );
  }

  /**
   * After `target` failed: forget it as the leader and point the rotation at the peer after it.
   * Relative to the failed peer, not a shared step per failure: calls that fail together on one
   * dead peer (they share its stream, so they do) would otherwise advance the rotation once each
   * and, as many calls as peers, come back to the dead peer in lockstep until they time out.
   */
  private moveOn(target: string): void {
    if (this.leader === target) this.leader = undefined;
    const n = this.peers.length;
    if (this.peers[this.next % n] === target) this.next = (this.peers.indexOf(target) + 1) % n;
  }

  private toError(err: unknown): ServiceError {
    const e = err as grpc.ServiceError;
    const code = e.metadata?.get(META.code)[0];
    const known = Object.values(ServiceErrorCode) as string[];
    return new ServiceError(
      typeof code === "string" && known.includes(code)
        ? (code as ServiceErrorCode)
        : ServiceErrorCode.Internal,
      e.details ?? e.message,
      { cause: err },
    );
  }
}
