import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  MemoryStorage,
  type Message,
  MessageType,
  ProposalDroppedError,
  StateType,
} from "@tessera/raft";
import { checkKvHistory } from "../linearizability/check-kv.js";
import type { KvInput, KvOutput } from "../linearizability/kv-model.js";
import { Rng } from "../rng.js";
import { type ClientGateway, type ClientSettings, SimClient } from "./client.js";
import { mix } from "./hash.js";
import { HistoryRecorder } from "./history-recorder.js";
import { InvariantChecker, InvariantViolation } from "./invariants.js";
import { type KvCommand, KvStateMachine } from "./kv-state-machine.js";
import { SimNetwork } from "./network.js";
import { type CrashPoint, type NodeSettings, SimNode } from "./sim-node.js";

export const DEFAULT_NODE_SETTINGS: NodeSettings = {
  electionTick: 10,
  heartbeatTick: 2,
  preVote: true,
  checkQuorum: true,
  snapshotEvery: 32,
  keepEntries: 4,
  maxSizePerMsg: 4096,
  maxInflightMsgs: 16,
  snapshotChunkSize: 256,
  maxUncommittedEntriesSize: 0,
  maxCommittedSizePerReady: Number.MAX_SAFE_INTEGER,
  clockSkew: 0,
};

export const DEFAULT_CLIENT_SETTINGS: ClientSettings = {
  issueRate: 0.3,
  attemptTimeout: 30,
  maxAttempts: 8,
  readIndexShare: 0.7,
  keys: 3,
};

export interface ClusterOptions {
  readonly seed: number;
  /** Initial voters, ids 1..nodes. */
  readonly nodes: number;
  readonly clients?: number;
  readonly node?: Partial<NodeSettings>;
  readonly client?: Partial<ClientSettings>;
  /** Keep the last `traceLimit` human-readable trace lines (costs time; off for sweeps). */
  readonly trace?: boolean;
  readonly traceLimit?: number;
  /**
   * How the initial members learn the initial configuration:
   * - "conf-state" (the core's documented bootstrap): `new MemoryStorage({voters})`, empty log.
   * - "snapshot": every initial member starts from an identical snapshot at index 1 (term 1)
   *   carrying the configuration, so a server added later must receive it by InstallSnapshot.
   */
  readonly bootstrap?: "conf-state" | "snapshot";
  /**
   * Harness self-test only: "stale-local-reads" makes nodes answer reads from local state without
   * ReadIndex — a classic bug the linearizability check must catch.
   */
  readonly mutation?: "stale-local-reads";
}

/**
 * N simulated nodes, a simulated network, simulated clients and the invariant checker, advanced
 * one step at a time. Everything random comes from forks of one Rng, so one seed is one run.
 *
 * One step: deliver the messages due now → tick every live node → let clients act → handle every
 * node's Ready (persist, send, apply, advance), checking the safety invariants as each Ready is
 * processed. Scenarios drive a Cluster by hand; runSeed drives it with random faults.
 */
export class Cluster implements ClientGateway {
  readonly rng: Rng;
  readonly net: SimNetwork<Message>;
  readonly nodes = new Map<number, SimNode>();
  readonly checker = new InvariantChecker();
  readonly history = new HistoryRecorder();
  readonly clients: SimClient[] = [];
  readonly settings: NodeSettings;
  now = 0;
  /** Running digest of everything that happened: two runs of one seed must agree on it. */
  digest = 0;
  /**
   * Scenario hook, applied at delivery: return the message (or an altered copy) to deliver it,
   * null to drop it — e.g. "nothing from n5", or "appends to n3 lose entries past index 7".
   */
  intercept: ((m: Message) => Message | null) | null = null;
  /** Scenario hook: nodes whose clocks are stopped (they never time out or heartbeat). */
  readonly frozen = new Set<number>();
  /** Whether idle clients start new operations. */
  issueNew = true;
  /** Crashes armed to fire at a given point of a node's next Ready, with an expiry step. */
  readonly pendingCrash = new Map<number, { point: CrashPoint; until: number }>();
  private readonly nodeRng: Rng;
  private readonly traceLines: string[] | null;
  private readonly traceLimit: number;
  private nextId: number;
  private incarnation = 0;
  readonly stats = {
    crashes: 0,
    restarts: 0,
    confChanges: 0,
    readyCrashes: 0,
  };

  constructor(readonly options: ClusterOptions) {
    this.rng = new Rng(options.seed);
    this.net = new SimNetwork<Message>(this.rng.fork("network"));
    this.nodeRng = this.rng.fork("nodes");
    this.settings = { ...DEFAULT_NODE_SETTINGS, ...options.node };
    this.traceLines = options.trace ? [] : null;
    this.traceLimit = options.traceLimit ?? 400;
    const voters = Array.from({ length: options.nodes }, (_, i) => i + 1);
    this.nextId = options.nodes + 1;
    const cs: ConfState = { voters, learners: [], votersOutgoing: [] };
    for (const id of voters) {
      const storage = new MemoryStorage(cs);
      if (options.bootstrap === "snapshot") {
        storage.applySnapshot({
          metadata: { index: 1, term: 1, confState: cs },
          data: new KvStateMachine().snapshot(),
        });
        storage.setHardState({ term: 1, vote: 0, commit: 1 });
      }
      this.createNode(id, storage);
    }
    const clientSettings = { ...DEFAULT_CLIENT_SETTINGS, ...options.client };
    for (let c = 1; c <= (options.clients ?? 3); c++) {
      this.clients.push(
        new SimClient(c, this.rng.fork(`client-${c}`), clientSettings, this.history),
      );
    }
  }

  // ------------------------------------------------------------------ nodes

  private createNode(id: number, storage: MemoryStorage): SimNode {
    const node = new SimNode(
      id,
      storage,
      this.settings,
      {
        send: (m) => this.send(m),
        reply: (clientId, seq, output) => this.reply(clientId, seq, output),
        confChanged: (n, cc, newCs) => this.confChanged(n, cc, newCs),
        ...(this.traceLines !== null ? { trace: (line: string) => this.trace(line) } : {}),
      },
      this.checker,
    );
    this.nodes.set(id, node);
    this.startNode(node);
    return node;
  }

  private startNode(node: SimNode): void {
    this.guard(() => node.start(this.nodeRng.fork(`n${node.id}#${++this.incarnation}`).source()));
  }

  /** Adds a brand-new, empty server (it learns the configuration from the leader). */
  spawnNode(): SimNode {
    return this.createNode(this.nextId++, new MemoryStorage());
  }

  node(id: number): SimNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new RangeError(`no node ${id}`);
    return n;
  }

  crash(id: number): void {
    const n = this.node(id);
    if (!n.alive) return;
    n.crash();
    this.pendingCrash.delete(id);
    this.stats.crashes++;
    this.trace(`crash n${id}`);
    this.digest = mix(this.digest, 0xc000 + id);
  }

  /** Arms a crash at a specific point of the node's next Ready that reaches it. */
  crashDuringReady(id: number, point: CrashPoint, within = 30): void {
    this.pendingCrash.set(id, { point, until: this.now + within });
  }

  restart(id: number): void {
    const n = this.node(id);
    if (n.alive || n.removed) return;
    const st = n.storage;
    // Traced before starting, so a restart that the core refuses still shows what was on disk.
    this.trace(
      `restart n${id}: snapshot ${st.snapshot().metadata.index}, log ${st.firstIndex()}..${st.lastIndex()}, ` +
        `persisted commit ${st.initialState().hardState.commit}`,
    );
    this.startNode(n);
    this.stats.restarts++;
    this.digest = mix(this.digest, 0xd000 + id);
  }

  /** Alive, non-removed nodes. */
  liveNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.alive && !n.removed) out.push(n);
    return out;
  }

  /** The live leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.isLeader() && !n.removed && (best === undefined || n.term > best.term)) best = n;
    }
    return best;
  }

  /** Members per the given node's applied configuration (voters and learners). */
  members(of: SimNode): number[] {
    return [...of.confState.voters, ...of.confState.learners];
  }

  // ------------------------------------------------------------------ network

  private send(m: Message): void {
    this.digest = mix(
      mix(mix(this.digest, m.type * 256 + m.from * 16 + m.to), m.term),
      m.index + m.entries.length,
    );
    if (
      this.traceLines !== null &&
      (m.type === MessageType.Snap || m.type === MessageType.SnapResp)
    ) {
      const c = m.snapshotChunk;
      this.trace(
        `n${m.from}->n${m.to} ${MessageType[m.type]} t${m.term} idx ${m.index || m.snapshot?.metadata.index}` +
          (c ? ` chunk ${c.offset}+${c.data.length}/${c.total}${c.done ? " done" : ""}` : "") +
          (m.type === MessageType.SnapResp
            ? ` ${m.reject ? "reject" : "ack"} ${m.rejectHint}`
            : ""),
      );
    }
    this.net.send(m, this.now);
  }

  private onDrop(m: Message): void {
    const sender = this.nodes.get(m.from);
    if (sender?.raw == null) return;
    // A real transport notices a dead link and says so; the core uses it to stop pipelining.
    this.guard(() => {
      if (m.type === MessageType.Snap) sender.raw?.reportSnapshot(m.to, false);
      else sender.raw?.reportUnreachable(m.to);
    });
  }

  // ------------------------------------------------------------------ clients

  nodeIds(): readonly number[] {
    const ids: number[] = [];
    for (const n of this.nodes.values()) if (!n.removed) ids.push(n.id);
    return ids;
  }

  leaderHint(nodeId: number): number {
    const n = this.nodes.get(nodeId);
    return n?.alive ? n.lead : 0;
  }

  submitCommand(nodeId: number, cmd: KvCommand): boolean {
    const n = this.nodes.get(nodeId);
    if (n === undefined || !n.alive) return false;
    return this.guard(() => n.submitCommand(cmd));
  }

  submitRead(nodeId: number, clientId: number, seq: number, key: string): boolean {
    const n = this.nodes.get(nodeId);
    if (n === undefined || !n.alive) return false;
    if (this.options.mutation === "stale-local-reads") {
      this.reply(clientId, seq, { kind: "value", value: n.kv.read(key) });
      return true;
    }
    return this.guard(() => n.submitRead(clientId, seq, key));
  }

  private reply(clientId: number, seq: number, output: KvOutput): void {
    this.clients[clientId - 1]?.onReply(seq, output);
  }

  /**
   * Has client `clientId` issue `input` now (scenarios), first to `target` if given, with retries
   * as usual. Returns the seq.
   */
  issue(
    clientId: number,
    input: KvInput,
    opts: { viaReadIndex?: boolean; target?: number } = {},
  ): number {
    const c = this.clients[clientId - 1];
    if (c === undefined) throw new RangeError(`no client ${clientId}`);
    return c.issueOp(input, this.now, this, opts.viaReadIndex ?? true, opts.target);
  }

  // ------------------------------------------------------------------ membership

  private confChanged(node: SimNode, cc: ConfChange, _cs: ConfState): void {
    this.trace(`n${node.id} applied ${ConfChangeType[cc.type]}(${cc.nodeId})`);
    if (cc.type === ConfChangeType.RemoveNode) {
      // The operator decommissions a removed server as soon as its removal is applied anywhere,
      // so it cannot disrupt the cluster by campaigning with a stale configuration.
      const removed = this.nodes.get(cc.nodeId);
      if (removed !== undefined && !removed.removed) {
        removed.removed = true;
        removed.crash();
        this.trace(`decommissioned n${cc.nodeId}`);
      }
    }
  }

  /** Proposes a membership change at the current leader; false if there is none or it refused. */
  proposeConfChange(cc: ConfChange): boolean {
    const l = this.leader();
    if (l?.raw == null) return false;
    try {
      l.raw.proposeConfChange(cc);
    } catch (e) {
      if (e instanceof ProposalDroppedError) return false;
      throw this.wrap(e);
    }
    this.stats.confChanges++;
    this.trace(`propose ${ConfChangeType[cc.type]}(${cc.nodeId}) at n${l.id}`);
    return true;
  }

  // ------------------------------------------------------------------ stepping

  /** Advances the simulation by one step. Throws InvariantViolation on any safety failure. */
  step(): void {
    this.now++;
    const due = this.net.deliverDue(this.now, (m) => this.onDrop(m));
    for (const orig of due) {
      const m = this.intercept === null ? orig : this.intercept(orig);
      if (m === null) continue;
      const n = this.nodes.get(m.to);
      if (n?.raw == null) continue;
      const raw = n.raw;
      this.guard(() => raw.step(m));
    }
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === null || this.frozen.has(n.id)) continue;
      // Slow clocks: even-numbered nodes skip one tick in every `clockSkew` steps, so clocks run
      // at different rates, as on real machines.
      const skew = n.id % 2 === 0 ? this.settings.clockSkew : 0;
      if (skew === 0 || (this.now + n.id) % skew !== 0) this.guard(() => raw.tick());
    }
    for (const c of this.clients) c.step(this.now, this, this.issueNew);
    for (const n of this.nodes.values()) this.drain(n);
    this.digest = mix(this.digest, this.now);
  }

  private drain(n: SimNode): void {
    for (let guard = 0; guard < 16; guard++) {
      const raw = n.raw;
      if (raw === null || !raw.hasReady()) return;
      const armed = this.pendingCrash.get(n.id);
      let point: CrashPoint | undefined;
      if (armed !== undefined) {
        if (this.now > armed.until) {
          this.pendingCrash.delete(n.id);
          this.crash(n.id);
          return;
        }
        point = armed.point;
      }
      const crashed = this.guard(() => n.handleReady(point));
      if (crashed) {
        this.pendingCrash.delete(n.id);
        this.stats.crashes++;
        this.stats.readyCrashes++;
        this.digest = mix(this.digest, 0xe000 + n.id);
        return;
      }
    }
  }

  run(steps: number): void {
    for (let i = 0; i < steps; i++) this.step();
  }

  /** Steps until `pred` holds (checked before each step); false if `maxSteps` ran out. */
  runUntil(pred: () => boolean, maxSteps: number): boolean {
    for (let i = 0; i < maxSteps; i++) {
      if (pred()) return true;
      this.step();
    }
    return pred();
  }

  /** Runs a core call; anything it throws other than a violation is a core failure. */
  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw this.wrap(e);
    }
  }

  private wrap(e: unknown): Error {
    if (e instanceof InvariantViolation) return e;
    const err = e as Error;
    const code = (err as { code?: string }).code;
    return new InvariantViolation(
      "core-error",
      `${err.name ?? "Error"}${code ? ` ${code}` : ""}: ${err.message}\n${(err.stack ?? "").split("\n").slice(1, 6).join("\n")}`,
    );
  }

  // ------------------------------------------------------------------ end-of-run checks

  /**
   * Heals everything, restarts crashed members, stops new client work, and runs until every
   * member has applied the leader's commit index (or `maxSteps` passes).
   */
  settle(maxSteps: number): boolean {
    this.net.heal();
    this.net.setFaults({ dropRate: 0, duplicateRate: 0, minDelay: 1, maxDelay: 1 });
    this.pendingCrash.clear();
    for (const n of this.nodes.values()) if (!n.alive && !n.removed) this.restart(n.id);
    this.issueNew = false;
    return this.runUntil(() => this.isSettled(), maxSteps);
  }

  isSettled(): boolean {
    if (this.clients.some((c) => c.busy)) return false;
    const l = this.leader();
    if (l?.raw == null) return false;
    const st = l.raw.status();
    if (st.commit !== st.lastIndex || l.applied !== st.commit) return false;
    for (const id of this.members(l)) {
      const n = this.nodes.get(id);
      if (n === undefined || !n.alive || n.applied !== st.commit) return false;
    }
    return true;
  }

  /** All members hold the same state machine. Throws InvariantViolation("convergence") if not. */
  checkConvergence(): void {
    const l = this.leader();
    if (l === undefined) throw new InvariantViolation("convergence", "no leader after settling");
    const want = l.kv.digest();
    for (const id of this.members(l)) {
      const n = this.nodes.get(id);
      if (n === undefined)
        throw new InvariantViolation("convergence", `member ${id} does not exist`);
      if (n.applied !== l.applied || n.kv.digest() !== want) {
        throw new InvariantViolation(
          "convergence",
          `n${id} applied ${n.applied} ${JSON.stringify(n.kv.entries())} but leader n${l.id} applied ${l.applied} ${JSON.stringify(l.kv.entries())}`,
        );
      }
    }
  }

  /** Client-visible behaviour was linearizable. Throws InvariantViolation("linearizability") if not. */
  checkLinearizable(): { operations: number; steps: number } {
    const r = checkKvHistory(this.history.ops, { maxSteps: 5_000_000 });
    if (r.verdict === "not-linearizable") {
      throw new InvariantViolation("linearizability", r.explanation?.message ?? "not linearizable");
    }
    if (r.verdict === "budget-exhausted") {
      throw new InvariantViolation(
        "linearizability",
        `checker budget exhausted on keys ${r.exhaustedKeys.join(",")}`,
      );
    }
    return { operations: r.operations, steps: r.steps };
  }

  // ------------------------------------------------------------------ tracing

  trace(line: string): void {
    const t = this.traceLines;
    if (t === null) return;
    t.push(`[${this.now}] ${line}`);
    if (t.length > this.traceLimit * 2) t.splice(0, t.length - this.traceLimit);
  }

  traceTail(n = this.traceLimit): string[] {
    return this.traceLines === null ? [] : this.traceLines.slice(-n);
  }

  /** The leader's view of replication, for liveness failures. */
  describeLeader(): string {
    const l = this.leader();
    if (l?.raw == null) return "no leader";
    const st = l.raw.status();
    const prs = [...(st.progress ?? new Map())].map(
      ([id, p]) =>
        `n${id}{match ${p.match} next ${p.next} ${p.state} inflight ${p.inflight}${p.recentActive ? "" : " inactive"}}`,
    );
    const busy = this.clients.filter((c) => c.busy).length;
    return `leader n${l.id} term ${st.term} commit ${st.commit} last ${st.lastIndex} ${prs.join(" ")}; busy clients ${busy}`;
  }

  /** Role summary, e.g. "n1:L(t3) n2:F n3:down". */
  describe(): string {
    const parts: string[] = [];
    for (const n of this.nodes.values()) {
      const role = n.removed
        ? "removed"
        : !n.alive
          ? "down"
          : n.state === StateType.Leader
            ? `L(t${n.term})`
            : n.state === StateType.Follower
              ? "F"
              : n.state === StateType.Candidate
                ? "C"
                : "PC";
      parts.push(`n${n.id}:${role}@${n.applied}`);
    }
    return parts.join(" ");
  }
}
