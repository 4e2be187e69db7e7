// Shared by the consensus benchmarks (the leading "_" keeps scripts/bench.mjs from listing it):
// flag parsing, percentiles, and a sequential gRPC proposer that follows the leader.
import { cpus } from "node:os";
import {
  ClientSession,
  encodeEnvelope,
  LeaderGuess,
  ManifestCallError,
  type ManifestClients,
  NOOP,
  parseReply,
} from "@tessera/test-consensus";

export { FlagError } from "./_cli.js";

import { FlagError, intIn, intsIn } from "./_cli.js";

/** `--name value` pairs; every name must be in `known`. */
export function parseFlagPairs(
  argv: readonly string[],
  known: readonly string[],
): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, "") ?? "";
    const value = argv[i + 1];
    if (!known.includes(name)) {
      throw new FlagError(
        `unknown flag --${name} (known: ${known.map((k) => `--${k}`).join(", ")})`,
      );
    }
    if (value === undefined) throw new FlagError(`--${name}: missing value`);
    out.set(name, value);
  }
  return out;
}

export function intFlag(
  flags: Map<string, string>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = flags.get(name);
  return v === undefined ? fallback : intIn(name, v, min, max);
}

export function intListFlag(
  flags: Map<string, string>,
  name: string,
  fallback: number[],
  min: number,
  max: number,
): number[] {
  const v = flags.get(name);
  return v === undefined ? fallback : intsIn(name, v, min, max);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round2 = (x: number) => Math.round(x * 100) / 100;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export const machine = () => ({
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  node: process.version,
});

export interface Commit {
  /** performance.now() when the reply arrived. */
  readonly at: number;
  readonly latencyMs: number;
  readonly term: number;
  readonly index: number;
}

/**
 * One client session proposing noop commands back to back over gRPC, following the leader.
 * A command whose outcome is unknown is retried with the same seq (exactly-once), and its
 * latency counts from the first attempt, as a client would see it.
 */
/** How a proposer reaches the leader: Manifest.ProposeStream (shared stream) or unary Propose. */
export type ProposeRpc = "stream" | "unary";

export class SequentialProposer {
  private stopped = false;
  readonly commits: Commit[] = [];
  errors = 0;
  private readonly guess: LeaderGuess;
  private readonly session: ClientSession;
  readonly done: Promise<void>;

  constructor(
    private readonly clients: ManifestClients,
    addresses: () => readonly string[],
    clientId: string,
    private readonly onCommit?: (c: Commit) => void,
    private readonly retryDelayMs = 2,
    private readonly rpc: ProposeRpc = "stream",
  ) {
    this.guess = new LeaderGuess(addresses);
    this.session = new ClientSession(clientId);
    this.done = this.run();
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.done;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const env = this.session.next(NOOP);
      const bytes = encodeEnvelope(env);
      const t0 = performance.now();
      while (!this.stopped) {
        try {
          const r =
            this.rpc === "stream"
              ? await this.clients.proposeStreamed(this.guess.current, bytes, 5_000)
              : await this.clients.propose(this.guess.current, bytes, 5_000);
          const reply = parseReply(r.reply);
          const at = performance.now();
          this.session.ack(env.seq);
          if (!reply.ok) throw new Error(`noop refused: ${reply.code} ${reply.reason}`);
          const c = { at, latencyMs: at - t0, term: r.term, index: r.index };
          this.commits.push(c);
          this.onCommit?.(c);
          break;
        } catch (err) {
          if (err instanceof ManifestCallError) {
            this.errors++;
            this.guess.moveOn(err.notLeader ? err.leaderGrpc : undefined);
            if (this.retryDelayMs > 0) await sleep(this.retryDelayMs);
            continue;
          }
          throw err;
        }
      }
    }
  }
}
