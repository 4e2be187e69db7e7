import type { KvInput, KvOutput } from "../linearizability/kv-model.js";
import type { Rng } from "../rng.js";
import type { HistoryRecorder } from "./history-recorder.js";
import type { KvCommand } from "./kv-state-machine.js";

export interface ClientSettings {
  /** Chance per step that an idle client starts an operation. */
  readonly issueRate: number;
  /** Steps to wait for an answer before retrying elsewhere. */
  readonly attemptTimeout: number;
  /** Attempts before giving up (the outcome is then unknown). */
  readonly maxAttempts: number;
  /** Share of reads served by ReadIndex; the rest go through the log. */
  readonly readIndexShare: number;
  readonly keys: number;
}

/** What a client needs from the cluster: somewhere to send a request. */
export interface ClientGateway {
  nodeIds(): readonly number[];
  /** The leader `nodeId` believes in (0 = unknown), as a redirect would tell the client. */
  leaderHint(nodeId: number): number;
  submitCommand(nodeId: number, cmd: KvCommand): boolean;
  submitRead(nodeId: number, clientId: number, seq: number, key: string): boolean;
}

interface InFlight {
  readonly seq: number;
  readonly input: KvInput;
  readonly call: number;
  readonly viaReadIndex: boolean;
  attempts: number;
  deadline: number;
  target: number;
}

/**
 * A simulated client with one operation outstanding at a time, identified by (clientId, seq).
 * On timeout it retries the same (clientId, seq) at another node — the retry must be applied at
 * most once — and after `maxAttempts` it gives up, recording an unknown outcome.
 */
export class SimClient {
  private seq = 0;
  private current: InFlight | null = null;
  private target = 0;
  private readonly lastSeen = new Map<string, string | null>();
  completed = 0;
  gaveUp = 0;

  constructor(
    readonly id: number,
    private readonly rng: Rng,
    private readonly settings: ClientSettings,
    private readonly history: HistoryRecorder,
  ) {}

  get busy(): boolean {
    return this.current !== null;
  }

  /** One step of client behaviour. `issueNew` false lets in-flight work finish without new ops. */
  step(now: number, gw: ClientGateway, issueNew: boolean): void {
    const cur = this.current;
    if (cur === null) {
      if (issueNew && this.rng.chance(this.settings.issueRate)) this.issue(now, gw);
      return;
    }
    if (now < cur.deadline) return;
    if (cur.attempts >= this.settings.maxAttempts) {
      this.history.unknown(this.id, cur.input, cur.call);
      this.current = null;
      this.gaveUp++;
      return;
    }
    // Follow the redirect of the node we last tried, else try someone else.
    const hint = gw.leaderHint(cur.target);
    const ids = gw.nodeIds();
    this.target = hint !== 0 && hint !== cur.target ? hint : (this.rng.pick(ids) as number);
    this.attempt(cur, now, gw);
  }

  /** The node answered (clientId, seq). Late answers to an abandoned seq are ignored. */
  onReply(seq: number, output: KvOutput): void {
    const cur = this.current;
    if (cur === null || cur.seq !== seq) return;
    if (cur.input.kind === "get" && output.kind !== "value") return;
    if (output.kind === "value") this.lastSeen.set(cur.input.key, output.value);
    this.history.complete(this.id, cur.input, cur.call, output);
    this.current = null;
    this.completed++;
  }

  /** Issues a specific operation now (scenarios); returns its seq. */
  issueOp(
    input: KvInput,
    now: number,
    gw: ClientGateway,
    viaReadIndex = true,
    target?: number,
  ): number {
    if (target !== undefined) this.target = target;
    const seq = ++this.seq;
    const op: InFlight = {
      seq,
      input,
      call: this.history.call(),
      viaReadIndex: input.kind === "get" && viaReadIndex,
      attempts: 0,
      deadline: now,
      target: this.target,
    };
    this.current = op;
    if (this.target === 0 || !gw.nodeIds().includes(this.target))
      this.target = this.rng.pick(gw.nodeIds());
    this.attempt(op, now, gw);
    return seq;
  }

  private issue(now: number, gw: ClientGateway): void {
    const key = `k${this.rng.int(this.settings.keys)}`;
    const roll = this.rng.float();
    const value = `${this.id}.${this.seq + 1};`;
    let input: KvInput;
    if (roll < 0.4) input = { kind: "get", key };
    else if (roll < 0.6) input = { kind: "put", key, value };
    else if (roll < 0.9) input = { kind: "append", key, value };
    else {
      // Swap from the last value this client saw, so some swaps succeed and some race and fail.
      const seen = this.lastSeen.get(key);
      input = {
        kind: "cas",
        key,
        expected: seen === undefined || this.rng.chance(0.2) ? null : seen,
        value,
      };
    }
    this.issueOp(input, now, gw, this.rng.chance(this.settings.readIndexShare));
  }

  private attempt(op: InFlight, now: number, gw: ClientGateway): void {
    op.attempts++;
    op.target = this.target;
    op.deadline = now + this.settings.attemptTimeout;
    if (op.viaReadIndex && op.input.kind === "get") {
      gw.submitRead(this.target, this.id, op.seq, op.input.key);
    } else {
      // One op at a time: every earlier seq is answered or abandoned, so ack them all.
      gw.submitCommand(this.target, {
        clientId: this.id,
        seq: op.seq,
        ackedSeq: op.seq - 1,
        input: op.input,
      });
    }
  }
}
