/**
 * Writers that keep submitting counted jobs (see commands.ts) while a scenario kills and
 * partitions peers, and the ledger of what each door acknowledged.
 *
 * "Acknowledged" means: over gRPC/HTTP, an `{ok:true}` reply (possibly `duplicate:true` for a
 * retried seq); over JetStream, a PubAck (the stream stored it, so the service owes us exactly
 * one application). Each writer is one client session with at most one command in flight, and it
 * retries that command with the same seq until it gets a definite answer: a lost reply after a
 * leader crash is the case exactly-once exists for.
 */
import { sleep } from "@tessera/harness";
import { ClientSession, countedJob, type Envelope, seedOf } from "./commands.js";

export type Door = "grpc" | "http" | "jetstream";

/** The manifest's reply to one command. */
export type Reply =
  | { ok: true; result?: Record<string, unknown>; duplicate?: true }
  | { ok: false; code: string; reason: string; duplicate?: true };

export interface Submitted {
  readonly reply: Reply;
  /** Log index, when the door reports it. */
  readonly index?: number | undefined;
}

/**
 * Sends one envelope through a door. Resolves with the manifest's reply; throws when the outcome
 * is unknown (no leader, connection lost, timeout), in which case the writer retries it.
 */
export type Submit = (env: Envelope) => Promise<Submitted>;

export interface LedgerEntry {
  readonly seed: number;
  readonly door: Door;
  readonly clientId: string;
  readonly seq: number;
  readonly index?: number | undefined;
}

/** Everything the writers sent and what came back. */
export class Ledger {
  /** seed → the command (every send, acknowledged or not). */
  readonly sent = new Map<number, LedgerEntry>();
  readonly acked = new Map<number, LedgerEntry>();
  /** Commands the manifest refused although they were valid (always a bug here). */
  readonly refused: { entry: LedgerEntry; reply: Reply }[] = [];
  /** Submit attempts that failed with an unknown outcome, by message (diagnostics). */
  readonly retryReasons = new Map<string, number>();

  ackedBy(door: Door): number {
    let n = 0;
    for (const e of this.acked.values()) if (e.door === door) n++;
    return n;
  }

  noteRetry(err: unknown): void {
    const msg = ((err as Error)?.message ?? String(err)).slice(0, 120);
    this.retryReasons.set(msg, (this.retryReasons.get(msg) ?? 0) + 1);
  }
}

export interface WriterOptions {
  readonly door: Door;
  /** Writer number: seeds are seedOf(writer, k) and the session is `<prefix>-<door>-<writer>`. */
  readonly writer: number;
  readonly submit: Submit;
  readonly ledger: Ledger;
  readonly clientPrefix?: string;
  /** Pause between a failed attempt and its retry (default 50 ms). */
  readonly retryDelayMs?: number;
  /** Pause between acknowledged commands (default 0: as fast as the cluster commits). */
  readonly pauseMs?: number;
}

/**
 * A writer loop: one session, one command in flight. stop() asks it to stop after the current
 * command; drain(deadline) additionally gives the in-flight command until `deadline` to get a
 * definite answer (after that it is left unacknowledged: applied at most once, not checked).
 */
export class Writer {
  private stopping = false;
  private giveUpAt = Number.POSITIVE_INFINITY;
  private readonly loop: Promise<void>;
  readonly session: ClientSession;
  private k = 0;

  constructor(private readonly o: WriterOptions) {
    this.session = new ClientSession(`${o.clientPrefix ?? "t"}-${o.door}-${o.writer}`);
    this.loop = this.run();
  }

  get count(): number {
    return this.k;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const seed = seedOf(this.o.writer, this.k++);
      const env = this.session.next(countedJob(seed));
      const entry = { seed, door: this.o.door, clientId: env.clientId, seq: env.seq };
      this.o.ledger.sent.set(seed, entry);
      for (;;) {
        if (Date.now() > this.giveUpAt) return;
        try {
          const { reply, index } = await this.o.submit(env);
          // A PubAck is not a reply from the manifest: advancing ackedSeq on it would let the
          // manifest forget replies of commands it has not applied yet.
          if (this.o.door !== "jetstream") this.session.ack(env.seq);
          const done = { ...entry, index };
          if (reply.ok) this.o.ledger.acked.set(seed, done);
          else this.o.ledger.refused.push({ entry: done, reply });
          break;
        } catch (err) {
          this.o.ledger.noteRetry(err);
          await sleep(this.o.retryDelayMs ?? 50);
        }
      }
      if (this.o.pauseMs) await sleep(this.o.pauseMs);
    }
  }

  /** Stop after the in-flight command is answered or `deadline` (ms since epoch) passes. */
  async drain(deadline: number): Promise<void> {
    this.stopping = true;
    this.giveUpAt = deadline;
    await this.loop;
  }
}

/**
 * Resolves once `ledger` has `n` more acknowledgements than now from every door in `doors`, or
 * throws after `timeoutMs` (a liveness guard: the cluster made no progress at all).
 */
export async function waitForProgress(
  ledger: Ledger,
  doors: readonly Door[],
  n: number,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const start = new Map(doors.map((d) => [d, ledger.ackedBy(d)]));
  const deadline = Date.now() + timeoutMs;
  while (!doors.every((d) => ledger.ackedBy(d) >= (start.get(d) ?? 0) + n)) {
    if (Date.now() > deadline) {
      const got = doors.map((d) => `${d} +${ledger.ackedBy(d) - (start.get(d) ?? 0)}`).join(", ");
      const reasons = [...ledger.retryReasons]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([m, c]) => `${c}× ${m}`)
        .join(" | ");
      throw new Error(
        `no progress ${what}: wanted +${n} acks per door within ${timeoutMs} ms, got ${got}; retry reasons: ${reasons}`,
      );
    }
    await sleep(20);
  }
}
