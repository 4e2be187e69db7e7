/**
 * A thin client of tessera.manifest.v1.Manifest (libs/protocol/proto/manifest.proto) for the
 * suites and benchmarks: one channel per peer address, no retries of its own (callers decide,
 * because retrying with the same clientId/seq is exactly what the suites test), and errors that
 * keep the gRPC status and the leader hint from the `tessera-*` metadata.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ProposeStream } from "@tessera/consensus";
import { type ClusterTls, clusterChannel } from "@tessera/consensus/client";
import { PROTO_DIR } from "@tessera/protocol";

const SERVICE = "tessera.manifest.v1.Manifest";

type Unary<Req, Res> = (
  req: Req,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

interface ManifestStub extends grpc.Client {
  Propose: Unary<{ command: Uint8Array }, { index: number; term: number; reply: Uint8Array }>;
  Read: Unary<
    { query: Uint8Array; consistency: "LINEARIZABLE" | "STALE" },
    { appliedIndex: number; result: Uint8Array }
  >;
  Info: Unary<Record<string, never>, InfoReply>;
}

export interface InfoReply {
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
}

let ctor: grpc.ServiceClientConstructor | undefined;
function clientConstructor(): grpc.ServiceClientConstructor {
  if (!ctor) {
    const def = protoLoader.loadSync(join(PROTO_DIR, "manifest.proto"), {
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const service = def[SERVICE] as grpc.ServiceDefinition | undefined;
    if (!service) throw new Error(`manifest.proto does not define ${SERVICE}`);
    ctor = grpc.makeGenericClientConstructor(service, SERVICE);
  }
  return ctor;
}

/** A failed call: gRPC status code, message, and where the leader is (if the peer said). */
export class ManifestCallError extends Error {
  constructor(
    readonly address: string,
    readonly status: grpc.status,
    readonly details: string,
    readonly serviceCode: string | undefined,
    readonly leaderGrpc: string | undefined,
  ) {
    super(`${address}: ${grpc.status[status] ?? status} ${serviceCode ?? ""} ${details}`.trim());
    this.name = "ManifestCallError";
  }

  get notLeader(): boolean {
    return this.serviceCode === "TESSERA_E_CONSENSUS_NOT_LEADER";
  }

  /** The server refused the request itself (it would refuse it again). */
  get invalid(): boolean {
    return this.status === grpc.status.INVALID_ARGUMENT;
  }
}

const first = (md: grpc.Metadata | undefined, key: string): string | undefined => {
  const v = md?.get(key)[0];
  return v === undefined ? undefined : String(v);
};

export interface ProposeReply {
  readonly index: number;
  readonly term: number;
  readonly reply: Uint8Array;
}

function callError(address: string, err: grpc.ServiceError | null): ManifestCallError {
  return new ManifestCallError(
    address,
    err?.code ?? grpc.status.UNKNOWN,
    err?.details ?? "no response",
    first(err?.metadata, "tessera-code"),
    first(err?.metadata, "tessera-leader-grpc"),
  );
}

/** Channels to the peers, by "host:port". close() closes them all. */
export class ManifestClients {
  private readonly stubs = new Map<string, ManifestStub>();
  private readonly streams = new Map<string, ProposeStream>();

  /** `tls`: the peers' mutual TLS (default plaintext). */
  constructor(private readonly tls?: ClusterTls | undefined) {}

  private stub(address: string): ManifestStub {
    let s = this.stubs.get(address);
    if (!s) {
      const C = clientConstructor();
      // The service's own channel settings: a peer addressed by IP is reached without DEP0123.
      const channel = clusterChannel(address, this.tls);
      s = new C(address, channel.credentials, {
        ...channel.options,
        // Reconnect quickly after a peer restarts on the same port.
        "grpc.initial_reconnect_backoff_ms": 50,
        "grpc.max_reconnect_backoff_ms": 500,
        "grpc.max_send_message_length": 8 * 1024 * 1024,
        // No per-call channelz bookkeeping (nothing reads it; it costs CPU on every call).
        "grpc.enable_channelz": 0,
      }) as unknown as ManifestStub;
      this.stubs.set(address, s);
    }
    return s;
  }

  private call<Req, Res>(
    address: string,
    method: "Propose" | "Read" | "Info",
    req: Req,
    timeoutMs: number,
  ): Promise<Res> {
    const stub = this.stub(address);
    const fn = stub[method] as unknown as Unary<Req, Res>;
    return new Promise((resolve, reject) => {
      fn.call(
        stub,
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: Res) => {
          if (err || res === undefined) {
            reject(callError(address, err));
          } else {
            resolve(res);
          }
        },
      );
    });
  }

  propose(address: string, command: Uint8Array, timeoutMs = 5_000): Promise<ProposeReply> {
    return this.call(address, "Propose", { command }, timeoutMs);
  }

  /** Like propose(), over the peer's ProposeStream (one stream per address, shared). */
  proposeStreamed(address: string, command: Uint8Array, timeoutMs = 5_000): Promise<ProposeReply> {
    let s = this.streams.get(address);
    if (!s) {
      s = new ProposeStream(this.stub(address), address);
      this.streams.set(address, s);
    }
    return s.propose(command, timeoutMs).catch((err: grpc.ServiceError) => {
      throw callError(address, err);
    });
  }

  async read(
    address: string,
    query: unknown,
    consistency: "LINEARIZABLE" | "STALE",
    timeoutMs = 5_000,
  ): Promise<{ appliedIndex: number; result: unknown }> {
    const r = await this.call<
      { query: Uint8Array; consistency: string },
      { appliedIndex: number; result: Uint8Array }
    >(address, "Read", { query: Buffer.from(JSON.stringify(query)), consistency }, timeoutMs);
    return { appliedIndex: r.appliedIndex, result: JSON.parse(Buffer.from(r.result).toString()) };
  }

  info(address: string, timeoutMs = 2_000): Promise<InfoReply> {
    return this.call(address, "Info", {}, timeoutMs);
  }

  close(): void {
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
    for (const s of this.stubs.values()) s.close();
    this.stubs.clear();
  }
}
