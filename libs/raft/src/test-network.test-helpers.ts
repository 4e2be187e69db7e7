/**
 * A tiny synchronous in-test network of RawNodes over MemoryStorage. Each node follows the host
 * contract exactly (persist, then send, then apply, then advance). Messages are queued and
 * delivered in FIFO order; links can be cut and messages filtered to model loss.
 * The randomized fault-injecting simulator lives in libs/raft-sim; this is only for scripted
 * scenarios.
 */

import { decodeConfChange } from "./conf-change.js";
import type { RaftConfig } from "./config.js";
import { MemoryStorage } from "./memory-storage.js";
import type { Message } from "./message.js";
import { RawNode } from "./raw-node.js";
import type { ReadState } from "./ready.js";
import { type ConfState, type Entry, EntryType, type NodeId, type Snapshot } from "./types.js";

/** mulberry32: a tiny seeded PRNG, enough for election jitter in tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TestNode {
  id: NodeId;
  raw: RawNode;
  storage: MemoryStorage;
  /** Normal entries with data applied by the state machine, in order (no-ops excluded). */
  applied: Entry[];
  /** Last applied snapshot image (the "state machine" restored from it). */
  restoredFrom?: Snapshot;
  readStates: ReadState[];
  confState: ConfState;
  appliedIndex: number;
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
export const conf = (voters: NodeId[], learners: NodeId[] = []): ConfState => ({
  voters,
  learners,
  votersOutgoing: [],
});

export class TestNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** Directed links that drop everything: "from->to". */
  private readonly cut = new Set<string>();
  /** Return false to drop a message (models loss); sees every message before delivery. */
  filter: ((m: Message) => boolean) | undefined;
  /** Optional faults applied to every delivery round: loss, duplication, reordering. */
  chaos: { random: () => number; drop: number; duplicate: number; reorder: boolean } | undefined;
  /** Every message ever sent, for assertions about what went on the wire. */
  readonly sent: Message[] = [];

  /**
   * @param bootstrap "storage": each initial member's storage carries the configuration (the
   * core writes it into the log at start). "log": RawNode.bootstrap(ids) is called explicitly.
   * Either way the log begins with one configuration entry per voter.
   */
  constructor(
    ids: NodeId[],
    private readonly cfg: Partial<RaftConfig> = {},
    bootstrap: "storage" | "log" = "storage",
  ) {
    for (const id of ids) {
      const n = this.addNode(id, bootstrap === "storage" ? conf(ids) : conf([]));
      if (bootstrap === "log") n.raw.bootstrap(ids);
    }
    this.settle();
  }

  /** Adds a node; a node joining later starts with an empty storage (it learns everything). */
  addNode(id: NodeId, initial: ConfState = conf([])): TestNode {
    const storage = new MemoryStorage(initial);
    const node: TestNode = {
      id,
      storage,
      raw: new RawNode({ id, random: seededRandom(id * 7919), ...this.cfg }, storage),
      applied: [],
      readStates: [],
      confState: initial,
      appliedIndex: 0,
    };
    this.nodes.set(id, node);
    return node;
  }

  /** Restarts a node from its storage (volatile state is lost, as in a crash). */
  restart(id: NodeId): void {
    const n = this.node(id);
    // The test state machine is volatile: rebuild it from the snapshot and re-apply the log.
    const snap = n.storage.snapshot();
    n.applied = [];
    if (snap.metadata.index > 0) n.restoredFrom = snap;
    else delete n.restoredFrom;
    n.appliedIndex = snap.metadata.index;
    n.confState = snap.metadata.confState;
    n.raw = new RawNode({ id, random: seededRandom(id * 104729), ...this.cfg }, n.storage);
    // The host re-applies the committed log at once (a node campaigns only once it has applied
    // every committed conf change).
    while (this.handleReady(id)) {
      /* drain */
    }
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).raw;
  }

  /** Handles one Ready of node `id` per the host contract. Returns whether there was one. */
  handleReady(id: NodeId): boolean {
    const n = this.node(id);
    if (!n.raw.hasReady()) return false;
    const rd = n.raw.ready();
    // 1. persist
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    // 2. send
    for (const m of rd.messages) {
      this.sent.push(m);
      this.queue.push(m);
    }
    // 3. apply
    if (rd.snapshot) {
      n.restoredFrom = rd.snapshot;
      n.confState = rd.snapshot.metadata.confState;
      n.appliedIndex = rd.snapshot.metadata.index;
      n.applied = [];
    }
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        n.confState = n.raw.applyConfChange(decodeConfChange(e.data));
      } else if (e.data.length > 0) {
        n.applied.push(e);
      }
      n.appliedIndex = e.index;
    }
    n.readStates.push(...rd.readStates);
    // 4. advance
    n.raw.advance(rd);
    return true;
  }

  private deliverable(m: Message): boolean {
    if (this.cut.has(`${m.from}->${m.to}`)) return false;
    if (!this.nodes.has(m.to)) return false;
    return this.filter ? this.filter(m) : true;
  }

  /** Runs every node's Ready and delivers messages until nothing is left to do. */
  settle(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const id of this.nodes.keys()) busy = this.handleReady(id) || busy;
      if (this.queue.length > 0) {
        busy = true;
        let q = this.queue;
        this.queue = [];
        const c = this.chaos;
        if (c) {
          const out: Message[] = [];
          for (const m of q) {
            if (c.random() < c.drop) continue;
            out.push(m);
            if (c.random() < c.duplicate) out.push({ ...m });
          }
          if (c.reorder) {
            for (let i = out.length - 1; i > 0; i--) {
              const j = Math.floor(c.random() * (i + 1));
              [out[i], out[j]] = [out[j]!, out[i]!];
            }
          }
          q = out;
        }
        for (const m of q) if (this.deliverable(m)) this.node(m.to).raw.step(m);
      }
      if (!busy) return;
    }
    throw new Error("network did not settle");
  }

  /** Ticks every node `n` times, settling after each tick. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) node.raw.tick();
      this.settle();
    }
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.raw(id).tick();
      this.settle();
    }
  }

  campaign(id: NodeId): void {
    this.raw(id).campaign();
    this.settle();
  }

  /** Cuts all links between `id` and every other node (both directions). */
  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  /** Cuts the links between two groups of nodes (both directions). */
  partition(a: NodeId[], b: NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut.add(`${x}->${y}`);
        this.cut.add(`${y}->${x}`);
      }
    }
  }

  heal(): void {
    this.cut.clear();
    this.filter = undefined;
  }

  leaders(): NodeId[] {
    const out: NodeId[] = [];
    for (const n of this.nodes.values()) if (n.raw.status().state === 2) out.push(n.id);
    return out;
  }

  appliedData(id: NodeId): string[] {
    return this.node(id).applied.map((e) => dec(e.data));
  }
}
