// Test driver for the manifest FSM: builds committed entries (index, term, stampedAt, envelope
// bytes) the way the Raft host would, and decodes replies and events for assertions.
import { emptyOutput, formatCrc32c, outputKey, parseTaskId, partialKey } from "@tessera/matrix";
import {
  type AttemptCompleteCommand,
  type ManifestCommand,
  type ManifestEvent,
  type ManifestReply,
  type MatmulJobSpec,
  manifestEventBatchCodec,
  manifestReplyCodec,
  type NodeUpsertCommand,
} from "@tessera/protocol";
import type { ApplyOutcome, CommittedCommand } from "../state-machine.js";
import { ManifestFsm, type ManifestFsmOptions } from "./manifest-fsm.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const T0 = 1_700_000_000_000;

export interface SendOptions {
  clientId?: string;
  seq?: number;
  ackedSeq?: number;
  stampedAt?: number;
}

export interface Sent {
  readonly entry: CommittedCommand;
  readonly outcome: ApplyOutcome;
  readonly reply: ManifestReply;
  readonly events: ManifestEvent[];
}

export function entry(index: number, data: Uint8Array, stampedAt = T0 + index, term = 1) {
  return { index, term, stampedAt, data } satisfies CommittedCommand;
}

export function envelopeBytes(
  cmd: ManifestCommand | Record<string, unknown>,
  clientId: string,
  seq: number,
  ackedSeq?: number,
): Uint8Array {
  const env = { v: 1, clientId, seq, ...(ackedSeq === undefined ? {} : { ackedSeq }), cmd };
  return encoder.encode(JSON.stringify(env));
}

export function decodeOutcome(outcome: ApplyOutcome): {
  reply: ManifestReply;
  events: ManifestEvent[];
} {
  return {
    reply: JSON.parse(decoder.decode(outcome.reply)) as ManifestReply,
    events: outcome.events.map((e) => e.body as ManifestEvent),
  };
}

/** Deterministic fake CRC32C of a task's output. */
export function checksumOf(jobId: string, taskId: string): string {
  let h = 2166136261;
  for (const ch of `${jobId}/${taskId}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return formatCrc32c(h >>> 0);
}

export function uriOf(jobId: string, taskId: string, prefix = "file:///data/"): string {
  const c = parseTaskId(taskId);
  return (
    prefix + (c.kind === "map" ? partialKey(jobId, c.i, c.j, c.k) : outputKey(jobId, c.i, c.j))
  );
}

export const LABELS = { cloud: "local", region: "r1", zone: "z1", pool: "cpu" };
export const CAPACITY = { slots: 4, cpus: 4, memoryBytes: 1 << 30, gpus: 0 };

export function upsert(nodeId: string, over: Partial<NodeUpsertCommand> = {}): NodeUpsertCommand {
  return {
    type: "node-upsert",
    nodeId,
    labels: LABELS,
    capacity: CAPACITY,
    executionProvider: "cpu",
    at: T0,
    ...over,
  };
}

/** Drives one FSM like a Raft host: consecutive indexes, stamped time, one client session. */
export class Driver {
  index = 0;
  seq = 0;
  readonly log: CommittedCommand[] = [];

  constructor(
    readonly fsm: ManifestFsm = new ManifestFsm(),
    readonly clientId = "test-client",
  ) {}

  static withOptions(options: ManifestFsmOptions): Driver {
    return new Driver(new ManifestFsm(options));
  }

  applyData(data: Uint8Array, stampedAt?: number): Sent {
    const e = entry(++this.index, data, stampedAt ?? T0 + this.index * 10);
    return this.applyEntry(e);
  }

  applyEntry(e: CommittedCommand): Sent {
    this.log.push(e);
    const outcome = this.fsm.apply(e);
    // Every reply and event batch the FSM produces must satisfy the published schemas.
    manifestReplyCodec.decode(outcome.reply);
    if (outcome.events.length > 0) {
      const events = outcome.events.map((x) => x.body);
      const batch = { v: 1, index: e.index, term: e.term, at: e.stampedAt, events };
      const checked = manifestEventBatchCodec.check(batch);
      if (!checked.ok) throw checked.error;
    }
    return { entry: e, outcome, ...decodeOutcome(outcome) };
  }

  send(cmd: ManifestCommand | Record<string, unknown>, o: SendOptions = {}): Sent {
    const seq = o.seq ?? ++this.seq;
    return this.applyData(
      envelopeBytes(cmd, o.clientId ?? this.clientId, seq, o.ackedSeq),
      o.stampedAt,
    );
  }

  /** Sends and asserts ok; returns the result. */
  ok(cmd: ManifestCommand | Record<string, unknown>, o: SendOptions = {}): Sent {
    const sent = this.send(cmd, o);
    if (!sent.reply.ok) {
      throw new Error(`expected ok for ${JSON.stringify(cmd)}, got ${JSON.stringify(sent.reply)}`);
    }
    return sent;
  }

  /** Sends and returns the rejection code (throws if accepted). */
  code(cmd: ManifestCommand | Record<string, unknown>, o: SendOptions = {}): string {
    const sent = this.send(cmd, o);
    if (sent.reply.ok) throw new Error(`expected a rejection for ${JSON.stringify(cmd)}`);
    return sent.reply.code;
  }

  submit(spec: MatmulJobSpec, jobId?: string, maxAttempts?: number): string {
    const sent = this.ok({
      type: "submit-job",
      spec,
      ...(jobId === undefined ? {} : { jobId }),
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
    });
    if (!sent.reply.ok) throw new Error("unreachable");
    return sent.reply.result?.jobId as string;
  }

  start(jobId: string, taskId: string, attempt: number, nodeId?: string, speculative?: boolean) {
    return this.send({
      type: "attempt-start",
      jobId,
      taskId,
      attempt,
      ...(nodeId === undefined ? {} : { nodeId }),
      ...(speculative === undefined ? {} : { speculative }),
    });
  }

  complete(
    jobId: string,
    taskId: string,
    attempt: number,
    nodeId = "agent-1",
    timings?: AttemptCompleteCommand["timings"],
  ) {
    return this.send(this.completion(jobId, taskId, attempt, nodeId, timings));
  }

  /** The attempt-complete an agent's report becomes (complete() sends it). */
  completion(
    jobId: string,
    taskId: string,
    attempt: number,
    nodeId = "agent-1",
    timings?: AttemptCompleteCommand["timings"],
  ): AttemptCompleteCommand {
    return {
      type: "attempt-complete",
      jobId,
      taskId,
      attempt,
      nodeId,
      // What an agent reports: an "empty" job's tasks store nothing.
      output:
        this.fsm.getJob(jobId)?.spec.mode === "empty"
          ? emptyOutput(uriOf(jobId, taskId, ""))
          : { uri: uriOf(jobId, taskId), checksum: checksumOf(jobId, taskId), bytes: 1024 },
      ...(timings ? { timings } : {}),
    };
  }

  reset(jobId: string, taskId: string, reason = "corrupt", attempt?: number): Sent {
    return this.send({
      type: "task-reset",
      jobId,
      taskId,
      reason,
      ...(attempt === undefined ? {} : { attempt }),
    });
  }

  /** Proposes the storage-manager's verdict; `digest` defaults to the manifest's own. */
  verify(jobId: string, verified = true, over: { digest?: string; reason?: string } = {}): Sent {
    const digest = over.digest ?? (verified ? this.fsm.getJob(jobId)?.outputDigest : undefined);
    return this.send({
      type: "job-verified",
      jobId,
      verified,
      ...(digest ? { digest } : {}),
      ...(over.reason === undefined ? {} : { reason: over.reason }),
    });
  }

  /** Starts (next attempt) and completes a task. */
  run(jobId: string, taskId: string, nodeId?: string): Sent {
    const view = this.fsm.getTask(jobId, taskId);
    if (!view) throw new Error(`no task ${jobId}/${taskId}`);
    const attempt = view.lastAttempt + 1;
    const started = this.start(jobId, taskId, attempt, nodeId);
    if (!started.reply.ok) throw new Error(`start failed: ${JSON.stringify(started.reply)}`);
    const done = this.complete(jobId, taskId, attempt, nodeId);
    if (!done.reply.ok) throw new Error(`complete failed: ${JSON.stringify(done.reply)}`);
    return done;
  }
}

/** Small seeded PRNG (mulberry32) for scenario generation. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
