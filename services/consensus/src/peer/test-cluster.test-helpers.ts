import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { freePorts, waitFor } from "@tessera/harness";
import { createLogger, type Logger } from "@tessera/observability";
import type { NodeId } from "@tessera/raft";
import type {
  ApplyOutcome,
  BatchApplyOutcome,
  CommittedBatch,
  CommittedCommand,
  StateMachine,
} from "../state-machine.js";
import type { FaultsConfig } from "../transport/faults.js";
import { RAFT_GRPC_OPTIONS } from "../transport/raft-service.js";
import { RaftPeer } from "./raft-peer.js";
import type { RaftTiming } from "./timing.js";
import type { PeerAddress } from "./types.js";

/**
 * A tiny deterministic state machine for host tests: it records every applied command
 * (index, stampedAt, text) and replies with how many it has applied. Snapshot = JSON.
 */
export class TestStateMachine implements StateMachine {
  commands: { index: number; text: string; stampedAt: number }[] = [];
  appliedIndex = 0;
  restores = 0;

  apply(cmd: CommittedCommand): ApplyOutcome {
    const text = Buffer.from(cmd.data).toString("utf8");
    this.commands.push({ index: cmd.index, text, stampedAt: cmd.stampedAt });
    this.appliedIndex = cmd.index;
    return {
      reply: Buffer.from(JSON.stringify({ ok: true, n: this.commands.length })),
      events: [{ category: "test", body: { text } }],
    };
  }

  applyBatch(entry: CommittedBatch): BatchApplyOutcome {
    const outs = entry.commands.map((data) => this.apply({ ...entry, data }));
    return { replies: outs.map((o) => o.reply), events: outs.flatMap((o) => o.events) };
  }

  snapshot(): Uint8Array {
    return Buffer.from(
      JSON.stringify({ appliedIndex: this.appliedIndex, commands: this.commands }),
    );
  }

  restore(data: Uint8Array): void {
    const s = JSON.parse(Buffer.from(data).toString("utf8")) as {
      appliedIndex: number;
      commands: TestStateMachine["commands"];
    };
    this.commands = s.commands;
    this.appliedIndex = s.appliedIndex;
    this.restores++;
  }

  digest(): string {
    return createHash("sha256")
      .update(JSON.stringify(this.commands.map((c) => [c.index, c.text])))
      .digest("hex");
  }

  texts(): string[] {
    return this.commands.map((c) => c.text);
  }
}

export interface TestNode {
  readonly id: NodeId;
  readonly peer: RaftPeer;
  readonly server: grpc.Server;
  readonly fsm: TestStateMachine;
}

export interface ClusterOptions {
  readonly timing?: Partial<RaftTiming>;
  readonly faults?: FaultsConfig;
  /** Extra address slots for peers added later (ids size+1 ...). */
  readonly spare?: number;
  readonly logLevel?: "silent" | "info" | "debug" | "warn";
}

export const enc = (s: string): Uint8Array => Buffer.from(s, "utf8");
export const dec = (b: Uint8Array): string => Buffer.from(b).toString("utf8");

/** N RaftPeers in this process, each with its own gRPC server on 127.0.0.1 and data dir. */
export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  private readonly logger: Logger;

  private constructor(
    readonly root: string,
    readonly addresses: readonly PeerAddress[],
    readonly size: number,
    private readonly options: ClusterOptions,
  ) {
    this.logger = createLogger({
      service: "consensus-test",
      level: options.logLevel ?? (process.env.TESSERA_TEST_LOG as "info" | undefined) ?? "silent",
    });
  }

  static async start(size: number, options: ClusterOptions = {}): Promise<TestCluster> {
    const total = size + (options.spare ?? 0);
    const ports = await freePorts(total);
    const addresses = ports.map((port, i) => ({ id: i + 1, grpc: `127.0.0.1:${port}` }));
    const root = mkdtempSync(join(tmpdir(), "tessera-raft-peer-"));
    const c = new TestCluster(root, addresses, size, options);
    for (let id = 1; id <= size; id++) await c.startNode(id);
    return c;
  }

  address(id: NodeId): PeerAddress {
    const a = this.addresses.find((x) => x.id === id);
    if (!a) throw new Error(`no address slot for ${id}`);
    return a;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`node ${id} is not running`);
    return n;
  }

  dataDir(id: NodeId): string {
    return join(this.root, `n${id}`);
  }

  async startNode(
    id: NodeId,
    opts: { join?: boolean; timing?: Partial<RaftTiming> } = {},
  ): Promise<TestNode> {
    const server = new grpc.Server(RAFT_GRPC_OPTIONS);
    const fsm = new TestStateMachine();
    const peers = opts.join
      ? [...this.addresses.slice(0, this.size).filter((a) => a.id !== id), this.address(id)]
      : this.addresses.slice(0, this.size);
    const peer = await RaftPeer.start({
      id,
      peers,
      dataDir: this.dataDir(id),
      stateMachine: fsm,
      server,
      logger: this.logger.child({ node: String(id) }),
      timing: { ...this.options.timing, ...opts.timing },
      faults: this.options.faults,
      join: opts.join,
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(this.address(id).grpc, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    const node = { id, peer, server, fsm };
    this.nodes.set(id, node);
    return node;
  }

  /** Stops a node the way a crash looks to the others: its server goes away at once. */
  async stopNode(id: NodeId, opts: { transfer?: boolean } = {}): Promise<void> {
    const n = this.node(id);
    this.nodes.delete(id);
    await n.peer.stop(opts);
    n.server.forceShutdown();
  }

  wipe(id: NodeId): void {
    rmSync(this.dataDir(id), { recursive: true, force: true });
  }

  running(): TestNode[] {
    return [...this.nodes.values()];
  }

  /** Waits until exactly one running node is leader and every running member agrees on it. */
  async waitLeader(timeoutMs = 20_000): Promise<TestNode> {
    let leader: TestNode | undefined;
    await waitFor(
      "a leader",
      async () => {
        const leaders = this.running().filter((n) => n.peer.isLeader());
        if (leaders.length !== 1) return false;
        leader = leaders[0];
        // Peers not (yet) in the configuration (a joiner before addPeer) have no say.
        return this.running().every((n) => {
          const st = n.peer.status();
          return !st.members.some((m) => m.id === n.id) || st.leaderId === leader!.id;
        });
      },
      timeoutMs,
      20,
    );
    return leader!;
  }

  async waitApplied(index: number, ids?: NodeId[], timeoutMs = 20_000): Promise<void> {
    const nodes = ids ? ids.map((id) => this.node(id)) : this.running();
    await waitFor(
      `applied index ${index} on ${nodes.map((n) => n.id).join(",")}`,
      async () => nodes.every((n) => n.peer.status().appliedIndex >= index),
      timeoutMs,
      20,
    );
  }

  async close(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stopNode(id).catch(() => {});
    rmSync(this.root, { recursive: true, force: true });
  }
}
