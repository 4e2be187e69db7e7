import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { PROTO_DIR } from "@tessera/protocol";

/** One frame of tessera.raft.v1 (see libs/protocol/proto/raft.proto). */
export interface MessageBatchWire {
  from: number;
  to: number;
  /** Each entry is one raft Message encoded with ./codec.ts. */
  messages: Uint8Array[];
}

export interface StreamSummaryWire {
  received: number;
}

export type AckWire = Record<string, never>;

export interface RaftServiceDefinition extends grpc.ServiceDefinition {
  AppendEntries: grpc.MethodDefinition<MessageBatchWire, StreamSummaryWire>;
  RequestVote: grpc.MethodDefinition<MessageBatchWire, AckWire>;
  InstallSnapshot: grpc.MethodDefinition<MessageBatchWire, StreamSummaryWire>;
  TimeoutNow: grpc.MethodDefinition<MessageBatchWire, AckWire>;
}

export const RAFT_SERVICE_NAME = "tessera.raft.v1.Raft";
export const RAFT_PROTO_PATH = join(PROTO_DIR, "raft.proto");

/**
 * Channel/server options for Raft traffic. Pass them to `new grpc.Server(RAFT_GRPC_OPTIONS)`
 * when building the shared server: one frame may hold a 512 KiB snapshot chunk or a batch of
 * 1 MiB appends, above gRPC's 4 MiB default receive limit only in bursts, so the limit is
 * raised rather than splitting frames ever smaller.
 */
export const RAFT_GRPC_OPTIONS: grpc.ChannelOptions = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
};

let cached: RaftServiceDefinition | undefined;

function isMethod(v: unknown): v is grpc.MethodDefinition<unknown, unknown> {
  return typeof v === "object" && v !== null && "path" in v && "requestSerialize" in v;
}

/** The Raft service definition, loaded once from raft.proto. */
export function raftServiceDefinition(): RaftServiceDefinition {
  if (cached) return cached;
  const pkg = protoLoader.loadSync(RAFT_PROTO_PATH, {
    keepCase: false,
    longs: Number,
    defaults: true,
    arrays: true,
  });
  const svc = pkg[RAFT_SERVICE_NAME];
  if (
    typeof svc !== "object" ||
    svc === null ||
    !["AppendEntries", "RequestVote", "InstallSnapshot", "TimeoutNow"].every((k) =>
      isMethod((svc as Record<string, unknown>)[k]),
    )
  ) {
    throw new Error(`${RAFT_PROTO_PATH} does not define service ${RAFT_SERVICE_NAME}`);
  }
  cached = svc as unknown as RaftServiceDefinition;
  return cached;
}
