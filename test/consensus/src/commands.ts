/**
 * Command generators for the process suites and benchmarks: envelopes with per-client session
 * sequence numbers, jobs that can be counted per peer, and deliberately bad commands.
 *
 * Exactly-once is checked with submit-job commands WITHOUT a jobId: the manifest then names the
 * job `job-<log index>`, so applying the same command twice would create two jobs. Every command
 * carries a distinct `spec.seed`, which makes each applied copy countable on every peer.
 */

/** The smallest valid job: one tile (one Map task and one Reduce task). */
export const TINY_N = 16;
export const TINY_TILE = 16;

export interface TinySpec {
  readonly n: number;
  readonly tile: number;
  readonly mode: "exact" | "float";
  readonly seed: number;
}

/** Command shapes this suite sends (the schemas live in @tessera/protocol, command.ts). */
export type TestCommand =
  | { readonly type: "noop" }
  | { readonly type: "submit-job"; readonly jobId?: string; readonly spec: TinySpec }
  | {
      readonly type: "job-control";
      readonly jobId: string;
      readonly action: "pause" | "resume" | "cancel";
    }
  | {
      readonly type: "attempt-start";
      readonly jobId: string;
      readonly taskId: string;
      readonly attempt: number;
      readonly nodeId?: string;
    }
  | {
      readonly type: "attempt-claim";
      readonly jobId: string;
      readonly taskId: string;
      readonly attempt: number;
      readonly nodeId: string;
    };

export interface Envelope {
  readonly v: 1;
  readonly clientId: string;
  readonly seq: number;
  readonly ackedSeq?: number;
  readonly cmd: TestCommand;
}

/** A submit-job that is identified by its seed (see the file comment). */
export function countedJob(seed: number): TestCommand {
  return { type: "submit-job", spec: { n: TINY_N, tile: TINY_TILE, mode: "exact", seed } };
}

export const NOOP: TestCommand = { type: "noop" };

export const encodeEnvelope = (e: Envelope): Uint8Array => Buffer.from(JSON.stringify(e), "utf8");

/**
 * One client session: seq 1, 2, 3, ... and the highest seq whose reply arrived (ackedSeq). A
 * session must have at most one command in flight: the manifest's session table refuses a seq
 * below one it has already applied (`stale-seq`), so concurrent in-flight seqs from one client
 * could be refused if they committed out of order.
 */
export class ClientSession {
  private nextSeq = 1;
  private acked = 0;

  constructor(readonly clientId: string) {}

  /** The envelope for the next command (call once per command; retries reuse the result). */
  next(cmd: TestCommand): Envelope {
    const seq = this.nextSeq++;
    return { v: 1, clientId: this.clientId, seq, ackedSeq: this.acked, cmd };
  }

  /** Record that the reply of `seq` arrived (the manifest may forget it now). */
  ack(seq: number): void {
    if (seq > this.acked) this.acked = seq;
  }
}

/**
 * Seeds are unique across a whole test run: writers get disjoint ranges (writer w uses
 * base + w * stride + k), so a seed alone says which writer sent a command.
 */
export function seedOf(writer: number, k: number, stride = 1_000_000): number {
  return 1 + writer * stride + k;
}

/** Bad commands, each with the reply code the manifest must answer with. */
export interface BadCommand {
  readonly name: string;
  /** Raw body bytes (may not even be JSON). */
  readonly bytes: Uint8Array;
  /** Expected `code` of `{ok:false}`; undefined where the API rejects it before the manifest. */
  readonly code: string;
}

const raw = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v), "utf8");

/**
 * Commands that must be rejected with a reason. `existingJob` must be a submitted tiny job whose
 * task m-0-0-0 has a live attempt 1 (so attempt 3 is stale and a claim of attempt 2 is not live).
 * `clientId`/`seq` are used for the envelope of each (one fresh seq each).
 */
export function badCommands(
  clientId: string,
  firstSeq: number,
  existingJob: string,
  maxCommandBytes = 64 * 1024,
): BadCommand[] {
  let seq = firstSeq;
  const env = (cmd: unknown) => ({ v: 1, clientId, seq: seq++, cmd });
  return [
    {
      name: "schema: n is a string",
      bytes: raw(
        env({ type: "submit-job", spec: { n: "big", tile: TINY_TILE, mode: "exact", seed: 1 } }),
      ),
      code: "schema-error",
    },
    {
      name: "schema: unknown command type",
      bytes: raw(env({ type: "reboot-universe" })),
      code: "schema-error",
    },
    {
      name: "schema: not JSON",
      bytes: raw("{this is not json"),
      code: "schema-error",
    },
    {
      name: "unknown job",
      bytes: raw(env({ type: "job-control", jobId: "no-such-job", action: "pause" })),
      code: "unknown-job",
    },
    {
      name: "stale attempt: skips a number",
      bytes: raw(env({ type: "attempt-start", jobId: existingJob, taskId: "m-0-0-0", attempt: 3 })),
      code: "stale-attempt",
    },
    {
      name: "stale attempt: claim of an attempt that is not live",
      bytes: raw(
        env({
          type: "attempt-claim",
          jobId: existingJob,
          taskId: "m-0-0-0",
          attempt: 2,
          nodeId: "node-x",
        }),
      ),
      code: "stale-attempt",
    },
    {
      name: "oversized payload",
      bytes: raw(
        env({
          type: "job-control",
          jobId: existingJob,
          action: "pause",
          padding: "x".repeat(maxCommandBytes + 1024),
        }),
      ),
      code: "oversized",
    },
  ];
}
