import * as grpc from "@grpc/grpc-js";
import type { Logger } from "@tessera/observability";
import { type Message, MessageType, type NodeId } from "@tessera/raft";
import { type ClusterTls, clusterChannel } from "./cluster-tls.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import { RaftCodecError, TransportArgumentError } from "./errors.js";
import {
  DelayQueue,
  type FaultsConfig,
  isFaultFree,
  type LinkFaults,
  NO_FAULTS,
  resolveFaults,
  resolveFaultsConfig,
  shouldDrop,
} from "./faults.js";
import {
  type MessageBatchWire,
  RAFT_GRPC_OPTIONS,
  type RaftServiceDefinition,
  raftServiceDefinition,
  type StreamSummaryWire,
} from "./raft-service.js";

/**
 * The Raft peer transport: tessera.raft.v1.Raft over @grpc/grpc-js.
 *
 * Server side: registers the Raft service on a grpc.Server the caller owns (the service shell
 * serves Manifest on the same port) and hands each decoded message to `onMessage`.
 *
 * Client side, per peer (a "link" this → to):
 * - one long-lived AppendEntries client stream carrying every message kind except votes,
 *   snapshot chunks and TimeoutNow, batched per send() call (one frame per link per Ready);
 *   votes and TimeoutNow go as unary calls, snapshot chunks on an InstallSnapshot stream;
 * - reconnect with exponential backoff (and gRPC's own channel backoff kept as short);
 * - bounded: a full delay queue or a stream whose send buffer is backed up drops the message
 *   and calls `onUnreachable(to)`, which the host forwards to RawNode.reportUnreachable so the
 *   leader falls back to probing instead of streaming into the void;
 * - fault injection (delay, jitter, loss), at construction and at run time, with order kept
 *   within the link (see faults.ts).
 * Raft tolerates loss and reordering across these channels; within the AppendEntries stream,
 * order is exactly send order.
 */

export interface PeerLinkAddress {
  readonly id: NodeId;
  /** host:port of the peer's gRPC server. */
  readonly grpc: string;
}

export type DropReason = "loss" | "queue-full" | "link-down" | "backpressure" | "unknown-peer";

export interface PeerTransportOptions {
  readonly id: NodeId;
  /** The shared gRPC server; the Raft service is added to it here and removed on close(). */
  readonly server: grpc.Server;
  /** The cluster's mutual TLS for links to other peers; absent = plaintext. */
  readonly tls?: ClusterTls | undefined;
  readonly logger: Logger;
  /** Receives every decoded inbound message addressed to this peer. Must not throw. */
  readonly onMessage: (m: Message) => void;
  /** A message to `to` could not be handed to the network (not called for injected loss). */
  readonly onUnreachable?: ((to: NodeId) => void) | undefined;
  /** An InstallSnapshot stream to `to` failed. */
  readonly onSnapshotFailed?: ((to: NodeId) => void) | undefined;
  /** Every dropped outbound message, for metrics. */
  readonly onDrop?: ((to: NodeId, reason: DropReason, count: number) => void) | undefined;
  readonly faults?: FaultsConfig | undefined;
  /** Messages waiting in one link's delay queue before new ones are dropped. Default 10,000. */
  readonly maxQueuedMessages?: number | undefined;
  /** Frames buffered in one AppendEntries stream before new ones are dropped. Default 1,024. */
  readonly maxBufferedFrames?: number | undefined;
  /** Encoded bytes per AppendEntries frame before a new frame starts. Default 4 MiB. */
  readonly maxFrameBytes?: number | undefined;
  /** Stream reconnect backoff: first delay and cap, ms. Defaults 50 and 1,000. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number } | undefined;
  /** Unary call deadline (votes, TimeoutNow), ms. Default 2,000. */
  readonly unaryTimeoutMs?: number | undefined;
  /** Source of randomness for loss, jitter and backoff jitter. Default Math.random. */
  readonly random?: (() => number) | undefined;
}

export interface LinkStats {
  readonly to: NodeId;
  readonly address: string;
  readonly connected: boolean;
  readonly queued: number;
  readonly sent: number;
  readonly dropped: number;
  readonly faults: LinkFaults;
}

type Channel = "append" | "vote" | "snapshot" | "timeout-now";

function channelOf(t: MessageType): Channel {
  switch (t) {
    case MessageType.Vote:
    case MessageType.VoteResp:
    case MessageType.PreVote:
    case MessageType.PreVoteResp:
      return "vote";
    case MessageType.Snap:
      return "snapshot";
    case MessageType.TimeoutNow:
      return "timeout-now";
    default:
      return "append";
  }
}

function positiveInt(field: string, v: number | undefined, dflt: number): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x <= 0) {
    throw new TransportArgumentError(field, `must be a positive integer, got ${String(v)}`);
  }
  return x;
}

function statusError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

class Link {
  readonly client: grpc.Client;
  readonly queue: DelayQueue<Message>;
  timer: NodeJS.Timeout | undefined;
  reconnect: NodeJS.Timeout | undefined;
  append: grpc.ClientWritableStream<MessageBatchWire> | undefined;
  snapshot: grpc.ClientWritableStream<MessageBatchWire> | undefined;
  connected = false;
  backoffMs: number;
  retryAt = 0;
  sent = 0;
  dropped = 0;

  constructor(
    readonly to: NodeId,
    readonly address: string,
    capacity: number,
    initialBackoffMs: number,
    maxBackoffMs: number,
    tls: ClusterTls | undefined,
  ) {
    this.queue = new DelayQueue(capacity);
    this.backoffMs = initialBackoffMs;
    const channel = clusterChannel(address, tls);
    this.client = new grpc.Client(address, channel.credentials, {
      ...channel.options,
      ...RAFT_GRPC_OPTIONS,
      // gRPC's channel backoff defaults to 1 s growing to 120 s: a peer restarted after a
      // minute would stay unreachable for up to two more. Keep it as short as ours.
      "grpc.initial_reconnect_backoff_ms": initialBackoffMs * 2,
      "grpc.max_reconnect_backoff_ms": maxBackoffMs,
      "grpc.min_reconnect_backoff_ms": initialBackoffMs,
      // No channelz bookkeeping on this channel's every message and call (nothing reads it).
      // Client channels only: with channelz off on a grpc-js 1.14 *server*, a peer restarted
      // on the same port is never reached again (peer-transport.test.ts "reconnects").
      "grpc.enable_channelz": 0,
    });
  }
}

export class PeerTransport {
  readonly id: NodeId;
  private readonly def: RaftServiceDefinition = raftServiceDefinition();
  private readonly links = new Map<NodeId, Link>();
  private readonly addresses = new Map<NodeId, string>();
  private defaultFaults: LinkFaults;
  private readonly faultOverrides = new Map<NodeId, LinkFaults>();
  private readonly serverCalls = new Set<() => void>();
  private readonly random: () => number;
  private readonly maxQueued: number;
  private readonly maxBufferedFrames: number;
  private readonly maxFrameBytes: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly unaryTimeoutMs: number;
  private readonly log: Logger;
  private closed = false;
  private decodeErrors = 0;

  constructor(private readonly opts: PeerTransportOptions) {
    this.id = opts.id;
    this.log = opts.logger.child({ component: "raft-transport" });
    this.random = opts.random ?? Math.random;
    this.maxQueued = positiveInt("maxQueuedMessages", opts.maxQueuedMessages, 10_000);
    this.maxBufferedFrames = positiveInt("maxBufferedFrames", opts.maxBufferedFrames, 1024);
    this.maxFrameBytes = positiveInt("maxFrameBytes", opts.maxFrameBytes, 4 * 1024 * 1024);
    this.initialBackoffMs = positiveInt("backoff.initialMs", opts.backoff?.initialMs, 50);
    this.maxBackoffMs = positiveInt("backoff.maxMs", opts.backoff?.maxMs, 1000);
    this.unaryTimeoutMs = positiveInt("unaryTimeoutMs", opts.unaryTimeoutMs, 2000);
    const faults = resolveFaultsConfig(opts.faults);
    this.defaultFaults = faults.defaults;
    for (const [id, f] of faults.links) this.faultOverrides.set(id, f);
    this.registerService();
  }

  // ---- membership ----

  /** Adds or updates the address of a peer (a changed address replaces the connection). */
  setPeer(address: PeerLinkAddress): void {
    if (address.id === this.id) return;
    if (typeof address.grpc !== "string" || address.grpc === "") {
      throw new TransportArgumentError("grpc", `peer ${address.id} needs a host:port address`);
    }
    const prev = this.addresses.get(address.id);
    if (prev === address.grpc) return;
    this.addresses.set(address.id, address.grpc);
    if (prev !== undefined) this.closeLink(address.id);
    // Connect now, not on the first message: in an election the followers talk to each other
    // for the first time, and a cold connection would add its handshake to the failover.
    const link = this.link(address.id);
    if (link && !this.closed) this.appendStream(link);
  }

  removePeer(id: NodeId): void {
    this.addresses.delete(id);
    this.closeLink(id);
  }

  peerAddress(id: NodeId): string | undefined {
    return this.addresses.get(id);
  }

  // ---- faults ----

  /** Replaces the faults on the link to `to` (missing fields are 0). */
  setLinkFaults(to: NodeId, faults: Partial<LinkFaults>): void {
    if (!Number.isSafeInteger(to) || to <= 0) {
      throw new TransportArgumentError("to", `must be a positive peer id, got ${String(to)}`);
    }
    this.faultOverrides.set(to, resolveFaults(faults, NO_FAULTS, `faults.links.${to}`));
    this.log.info({ to, faults: this.faultOverrides.get(to) }, "link faults set");
  }

  /** Sets the faults of every link (present and future) and clears per-link overrides. */
  setAllFaults(faults: Partial<LinkFaults>): void {
    this.defaultFaults = resolveFaults(faults, NO_FAULTS, "faults.default");
    this.faultOverrides.clear();
    this.log.info({ faults: this.defaultFaults }, "all link faults set");
  }

  faultsFor(to: NodeId): LinkFaults {
    return this.faultOverrides.get(to) ?? this.defaultFaults;
  }

  faults(): { default: LinkFaults; links: Record<string, LinkFaults> } {
    const links: Record<string, LinkFaults> = {};
    for (const id of new Set([...this.addresses.keys(), ...this.faultOverrides.keys()])) {
      links[String(id)] = this.faultsFor(id);
    }
    return { default: this.defaultFaults, links };
  }

  stats(): LinkStats[] {
    return [...this.addresses].map(([to, address]) => {
      const l = this.links.get(to);
      return {
        to,
        address,
        connected: l?.connected ?? false,
        queued: l?.queue.length ?? 0,
        sent: l?.sent ?? 0,
        dropped: l?.dropped ?? 0,
        faults: this.faultsFor(to),
      };
    });
  }

  // ---- sending ----

  /** Sends messages (a Ready's worth); order per destination is kept. Never throws. */
  send(messages: readonly Message[]): void {
    if (this.closed || messages.length === 0) return;
    let byTo: Map<NodeId, Message[]> | undefined;
    for (const m of messages) {
      byTo ??= new Map();
      const list = byTo.get(m.to);
      if (list) list.push(m);
      else byTo.set(m.to, [m]);
    }
    if (!byTo) return;
    for (const [to, list] of byTo) this.sendTo(to, list);
  }

  private sendTo(to: NodeId, list: Message[]): void {
    const link = this.link(to);
    if (!link) {
      this.drop(to, undefined, "unknown-peer", list.length, true);
      return;
    }
    const f = this.faultsFor(to);
    if (isFaultFree(f) && link.queue.length === 0) {
      this.dispatch(link, list);
      return;
    }
    const now = performance.now();
    let lost = 0;
    let full = 0;
    for (const m of list) {
      if (shouldDrop(f, this.random)) lost++;
      else if (!link.queue.push(m, now, f, this.random)) full++;
    }
    if (lost > 0) this.drop(to, link, "loss", lost, false);
    if (full > 0) this.drop(to, link, "queue-full", full, true);
    this.schedule(link);
  }

  private schedule(link: Link): void {
    if (link.timer !== undefined) return;
    const due = link.queue.peekDue();
    if (due === undefined) return;
    link.timer = setTimeout(
      () => {
        link.timer = undefined;
        if (this.closed || this.links.get(link.to) !== link) return;
        const ready = link.queue.popDue(performance.now());
        if (ready.length > 0) this.dispatch(link, ready);
        this.schedule(link);
      },
      Math.max(0, due - performance.now()),
    );
  }

  /** Hands messages to gRPC in order: consecutive append-channel messages share a frame. */
  private dispatch(link: Link, list: readonly Message[]): void {
    let frame: Uint8Array[] = [];
    let frameBytes = 0;
    const flush = () => {
      if (frame.length === 0) return;
      this.writeAppend(link, frame);
      frame = [];
      frameBytes = 0;
    };
    for (const m of list) {
      const channel = channelOf(m.type);
      const bytes = encodeMessage(m);
      if (channel === "append") {
        if (frameBytes + bytes.length > this.maxFrameBytes) flush();
        frame.push(bytes);
        frameBytes += bytes.length;
        continue;
      }
      flush();
      if (channel === "snapshot") this.writeSnapshot(link, m, bytes);
      else this.unary(link, channel, m, bytes);
    }
    flush();
  }

  private frame(to: NodeId, messages: Uint8Array[]): MessageBatchWire {
    return { from: this.id, to, messages };
  }

  private writeAppend(link: Link, messages: Uint8Array[]): void {
    const stream = this.appendStream(link);
    if (!stream) {
      this.drop(link.to, link, "link-down", messages.length, true);
      return;
    }
    // A peer that stopped reading (but kept its connection) must not grow our memory without
    // bound: past the buffer limit, drop and let the leader fall back to probing.
    if (stream.writableLength >= this.maxBufferedFrames) {
      this.drop(link.to, link, "backpressure", messages.length, true);
      return;
    }
    stream.write(this.frame(link.to, messages));
    link.sent += messages.length;
  }

  private appendStream(link: Link): grpc.ClientWritableStream<MessageBatchWire> | undefined {
    if (link.append) return link.append;
    if (performance.now() < link.retryAt) return undefined;
    const md = this.def.AppendEntries;
    const call: grpc.ClientWritableStream<MessageBatchWire> = link.client.makeClientStreamRequest(
      md.path,
      md.requestSerialize,
      md.responseDeserialize,
      new grpc.Metadata(),
      {},
      (err: grpc.ServiceError | null) => {
        if (link.append !== call) return;
        link.append = undefined;
        this.linkFailed(link, err ?? statusError(grpc.status.UNAVAILABLE, "stream ended"));
      },
    );
    // The server sends its metadata as soon as the stream starts: that is "connected".
    call.on("metadata", () => {
      if (link.append !== call) return;
      if (!link.connected) this.log.info({ to: link.to, address: link.address }, "raft link up");
      link.connected = true;
      link.backoffMs = this.initialBackoffMs;
    });
    // Errors arrive through the callback; the listener keeps Node from treating them as fatal.
    call.on("error", () => {});
    link.append = call;
    return call;
  }

  private linkFailed(link: Link, err: grpc.ServiceError): void {
    if (this.closed || this.links.get(link.to) !== link) return;
    const wasConnected = link.connected;
    link.connected = false;
    const wait = link.backoffMs * (0.8 + 0.4 * this.random());
    link.retryAt = performance.now() + wait;
    link.backoffMs = Math.min(this.maxBackoffMs, link.backoffMs * 2);
    const fields = {
      to: link.to,
      address: link.address,
      code: err.code,
      retryInMs: Math.round(wait),
    };
    if (wasConnected) this.log.warn(fields, `raft link down: ${err.details || err.message}`);
    else this.log.debug(fields, "raft link connect failed");
    // Reconnect in the background, so the link is up before the next message needs it.
    if (link.reconnect !== undefined) clearTimeout(link.reconnect);
    link.reconnect = setTimeout(() => {
      link.reconnect = undefined;
      if (this.closed || this.links.get(link.to) !== link || link.append) return;
      link.retryAt = 0; // timers may fire a hair early against performance.now()
      this.appendStream(link);
    }, wait);
    this.opts.onUnreachable?.(link.to);
  }

  private writeSnapshot(link: Link, m: Message, bytes: Uint8Array): void {
    let stream = link.snapshot;
    if (!stream) {
      const md = this.def.InstallSnapshot;
      const call: grpc.ClientWritableStream<MessageBatchWire> = link.client.makeClientStreamRequest(
        md.path,
        md.requestSerialize,
        md.responseDeserialize,
        new grpc.Metadata(),
        {},
        (err: grpc.ServiceError | null) => {
          if (link.snapshot === call) link.snapshot = undefined;
          if (err && !this.closed) {
            this.log.warn(
              { to: link.to, code: err.code, index: m.snapshot?.metadata.index },
              `snapshot stream failed: ${err.details || err.message}`,
            );
            this.opts.onSnapshotFailed?.(link.to);
          }
        },
      );
      call.on("error", () => {});
      link.snapshot = call;
      stream = call;
    }
    stream.write(this.frame(link.to, [bytes]));
    link.sent++;
    if (m.snapshotChunk?.done) {
      // The transfer's last chunk: end the stream; a resend after a stall opens a new one.
      stream.end();
      link.snapshot = undefined;
    }
  }

  private unary(link: Link, channel: Channel, m: Message, bytes: Uint8Array): void {
    const md = channel === "vote" ? this.def.RequestVote : this.def.TimeoutNow;
    link.client.makeUnaryRequest(
      md.path,
      md.requestSerialize,
      md.responseDeserialize,
      this.frame(link.to, [bytes]),
      new grpc.Metadata(),
      { deadline: Date.now() + this.unaryTimeoutMs },
      (err: grpc.ServiceError | null) => {
        if (err && !this.closed) {
          this.log.debug(
            { to: link.to, type: MessageType[m.type], term: m.term, code: err.code },
            "raft unary call failed",
          );
        }
      },
    );
    link.sent++;
  }

  private drop(
    to: NodeId,
    link: Link | undefined,
    reason: DropReason,
    count: number,
    unreachable: boolean,
  ): void {
    if (link) link.dropped += count;
    this.opts.onDrop?.(to, reason, count);
    if (unreachable) this.opts.onUnreachable?.(to);
  }

  private link(to: NodeId): Link | undefined {
    const existing = this.links.get(to);
    if (existing) return existing;
    const address = this.addresses.get(to);
    if (address === undefined) return undefined;
    const link = new Link(
      to,
      address,
      this.maxQueued,
      this.initialBackoffMs,
      this.maxBackoffMs,
      this.opts.tls,
    );
    this.links.set(to, link);
    return link;
  }

  private closeLink(to: NodeId): void {
    const link = this.links.get(to);
    if (!link) return;
    this.links.delete(to);
    if (link.timer !== undefined) clearTimeout(link.timer);
    if (link.reconnect !== undefined) clearTimeout(link.reconnect);
    link.queue.clear();
    link.append?.cancel();
    link.snapshot?.cancel();
    link.client.close();
  }

  // ---- receiving ----

  private registerService(): void {
    const server = this.opts.server;
    // A peer restarted inside the same process (tests) replaces the previous registration.
    server.removeService(this.def);
    server.addService(this.def, {
      AppendEntries: (
        call: grpc.ServerReadableStream<MessageBatchWire, StreamSummaryWire>,
        cb: grpc.sendUnaryData<StreamSummaryWire>,
      ) => this.serveStream(call, cb, "AppendEntries"),
      InstallSnapshot: (
        call: grpc.ServerReadableStream<MessageBatchWire, StreamSummaryWire>,
        cb: grpc.sendUnaryData<StreamSummaryWire>,
      ) => this.serveStream(call, cb, "InstallSnapshot"),
      RequestVote: (
        call: grpc.ServerUnaryCall<MessageBatchWire, Record<string, never>>,
        cb: grpc.sendUnaryData<Record<string, never>>,
      ) => this.serveUnary(call, cb),
      TimeoutNow: (
        call: grpc.ServerUnaryCall<MessageBatchWire, Record<string, never>>,
        cb: grpc.sendUnaryData<Record<string, never>>,
      ) => this.serveUnary(call, cb),
    });
  }

  private serveStream(
    call: grpc.ServerReadableStream<MessageBatchWire, StreamSummaryWire>,
    cb: grpc.sendUnaryData<StreamSummaryWire>,
    method: string,
  ): void {
    if (this.closed) {
      cb(statusError(grpc.status.UNAVAILABLE, "raft peer stopped"));
      return;
    }
    let received = 0;
    let finished = false;
    const finish = (err: grpc.ServiceError | null) => {
      if (finished) return;
      finished = true;
      this.serverCalls.delete(abort);
      if (err) cb(err);
      else cb(null, { received });
    };
    const abort = () => finish(statusError(grpc.status.UNAVAILABLE, "raft peer stopped"));
    this.serverCalls.add(abort);
    call.sendMetadata(new grpc.Metadata());
    call.on("data", (batch: MessageBatchWire) => {
      if (finished) return;
      const problem = this.receive(batch);
      if (problem) {
        this.log.warn({ from: batch.from, to: batch.to, method }, problem);
        finish(statusError(grpc.status.FAILED_PRECONDITION, problem));
        return;
      }
      received += batch.messages.length;
    });
    call.on("end", () => finish(null));
    call.on("error", () => finish(statusError(grpc.status.CANCELLED, "stream error")));
    call.on("cancelled", () => finish(statusError(grpc.status.CANCELLED, "cancelled")));
  }

  private serveUnary(
    call: grpc.ServerUnaryCall<MessageBatchWire, Record<string, never>>,
    cb: grpc.sendUnaryData<Record<string, never>>,
  ): void {
    if (this.closed) {
      cb(statusError(grpc.status.UNAVAILABLE, "raft peer stopped"));
      return;
    }
    const problem = this.receive(call.request);
    if (problem) cb(statusError(grpc.status.FAILED_PRECONDITION, problem));
    else cb(null, {});
  }

  /** Decodes and delivers one frame; returns why the whole frame was refused, if it was. */
  private receive(batch: MessageBatchWire): string | undefined {
    if (batch.to !== this.id) {
      return `frame for peer ${batch.to} reached peer ${this.id} (stale address?)`;
    }
    for (const bytes of batch.messages) {
      let m: Message;
      try {
        m = decodeMessage(bytes);
      } catch (e) {
        // One bad message is dropped (Raft recovers from loss); the stream stays up.
        if (!(e instanceof RaftCodecError)) throw e;
        if (this.decodeErrors++ % 100 === 0) {
          this.log.warn({ from: batch.from, err: e }, "dropping undecodable raft message");
        }
        continue;
      }
      if (m.to !== this.id || m.from !== batch.from) {
        this.log.warn(
          { from: m.from, to: m.to, frameFrom: batch.from },
          "dropping misrouted raft message",
        );
        continue;
      }
      this.opts.onMessage(m);
    }
    return undefined;
  }

  /** Stops sending and receiving; removes the Raft service from the server (which stays up). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.links.keys()]) this.closeLink(id);
    for (const abort of [...this.serverCalls]) abort();
    this.opts.server.removeService(this.def);
  }
}
