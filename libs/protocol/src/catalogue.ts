import { SubjectTokenError } from "./errors.js";

/**
 * The stream / subject / consumer catalogue: the single place that names things on the bus.
 * Plain data (no NATS types) so every package can read it; libs/messaging turns a
 * `StreamSpec` into a JetStream stream config. Names stay inspectable with the NATS CLI.
 */

export const SUBJECT_ROOT = "tessera";

export type RetentionKind = "workqueue" | "limits";

export interface StreamSpec {
  readonly name: string;
  readonly subjects: readonly string[];
  readonly retention: RetentionKind;
  readonly storage: "file";
  /** Window within which a repeated Nats-Msg-Id is dropped as a duplicate. */
  readonly duplicateWindowMs: number;
  /** 0 = unlimited. */
  readonly maxAgeMs: number;
  /** -1 = unlimited. */
  readonly maxBytes: number;
  readonly description: string;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Commands into the control plane (submits, claims, completions). */
export const CMD_STREAM: StreamSpec = {
  name: "TESSERA_CMD",
  subjects: ["tessera.cmd.>"],
  retention: "workqueue",
  storage: "file",
  duplicateWindowMs: 2 * MINUTE,
  maxAgeMs: 0,
  maxBytes: -1,
  description: "Commands into the control plane; acked after Raft commit",
};

/** Committed manifest events; Nats-Msg-Id = Raft log index, so a re-publish is dropped. */
export const EVENTS_STREAM: StreamSpec = {
  name: "TESSERA_EVENTS",
  subjects: ["tessera.evt.>"],
  retention: "limits",
  storage: "file",
  // A new leader may re-publish the tail of the log; a longer window covers slow elections.
  duplicateWindowMs: 10 * MINUTE,
  maxAgeMs: 7 * DAY,
  maxBytes: -1,
  description: "Committed manifest events",
};

/** Map/Reduce work items on tessera.work.<pool>.<kind>. */
export const WORK_STREAM: StreamSpec = {
  name: "TESSERA_WORK",
  subjects: ["tessera.work.>"],
  retention: "workqueue",
  storage: "file",
  duplicateWindowMs: 2 * MINUTE,
  maxAgeMs: 0,
  maxBytes: -1,
  description: "Map/Reduce work items",
};

/** Centralized logs on tessera.log.<service>.<level>; bounded by age and size. */
export const LOGS_STREAM: StreamSpec = {
  name: "TESSERA_LOGS",
  subjects: ["tessera.log.>"],
  retention: "limits",
  storage: "file",
  duplicateWindowMs: 2 * MINUTE,
  maxAgeMs: 3 * DAY,
  maxBytes: 1024 * 1024 * 1024,
  description: "Centralized service logs",
};

/** Every stream Tessera provisions, in provisioning order. */
export const STREAMS: readonly StreamSpec[] = [CMD_STREAM, EVENTS_STREAM, WORK_STREAM, LOGS_STREAM];

/** Fixed command subjects (all inside TESSERA_CMD). */
export const SUBJECTS = {
  taskComplete: "tessera.cmd.task.complete",
  /** CompletionBatchV1: the reports of one batched work message (WorkBatchV1). */
  taskCompleteBatch: "tessera.cmd.task.complete-batch",
  taskClaim: "tessera.cmd.task.claim",
  /**
   * DirectReportV1 → DirectReportReplyV1 (core NATS request/reply, no stream): reports sent
   * straight to the consensus leader, the only peer subscribed (queue group `tessera-leader`).
   */
  leaderReport: "tessera.leader.report",
  jobSubmit: "tessera.cmd.job.submit",
  /** Subscribe to every agent heartbeat. */
  heartbeatAll: "tessera.hb.*",
  /** Every committed event. */
  eventsAll: "tessera.evt.>",
  workAll: "tessera.work.>",
  logsAll: "tessera.log.>",
} as const;

export type WorkKind = "map" | "reduce";
export type LogLevelName = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws SubjectTokenError if `value` cannot be one subject token. */
export function assertSubjectToken(field: string, value: string): string {
  if (!TOKEN.test(value)) throw new SubjectTokenError(field, value);
  return value;
}

/** `tessera.work.<pool>.<kind>` */
export function workSubject(pool: string, kind: WorkKind): string {
  return `tessera.work.${assertSubjectToken("pool", pool)}.${assertSubjectToken("kind", kind)}`;
}

/** `tessera.work.<pool>.batch`: batched short tasks (WorkBatchV1), inside the pool's filter. */
export function workBatchSubject(pool: string): string {
  return `tessera.work.${assertSubjectToken("pool", pool)}.batch`;
}

/** `tessera.work.<pool>.>`: the filter of a pool's shared agent consumer. */
export function workPoolFilter(pool: string): string {
  return `tessera.work.${assertSubjectToken("pool", pool)}.>`;
}

/** `tessera.hb.<nodeId>` (core NATS). */
export function heartbeatSubject(nodeId: string): string {
  return `tessera.hb.${assertSubjectToken("nodeId", nodeId)}`;
}

/** `tessera.ctl.agent.<nodeId>` (core NATS request/reply): control requests to one agent. */
export function agentControlSubject(nodeId: string): string {
  return `tessera.ctl.agent.${assertSubjectToken("nodeId", nodeId)}`;
}

/** `tessera.log.<service>.<level>` */
export function logSubject(service: string, level: LogLevelName | string): string {
  return `tessera.log.${assertSubjectToken("service", service)}.${assertSubjectToken("level", level)}`;
}

/** `tessera.evt.<type>`, e.g. `tessera.evt.task.committed` (type may contain dots). */
export function eventSubject(type: string): string {
  for (const part of type.split(".")) assertSubjectToken("event type", part);
  return `tessera.evt.${type}`;
}

/** Name of the durable pull consumer that every agent of `pool` shares. */
export function agentDurableName(pool: string): string {
  return `agents-${assertSubjectToken("pool", pool)}`;
}

/** Nats-Msg-Id of a completion, so a retried publish of the same report is dropped. */
export function completionMsgId(itemId: string): string {
  return `complete:${itemId}`;
}

/** Nats-Msg-Id of a CompletionBatchV1: one per work batch, whichever agent ran it. */
export function completionBatchMsgId(batchId: string): string {
  return `complete-batch:${batchId}`;
}

/** Nats-Msg-Id of a work item publish (one per attempt). */
export function workItemMsgId(itemId: string): string {
  return `work:${itemId}`;
}

/** Nats-Msg-Id of a WorkBatchV1: reproducible from the manifest (the attempts' `batch`). */
export function workBatchMsgId(batchId: string): string {
  return `work-batch:${batchId}`;
}

/** Defaults for durable work consumers (see contracts: explicit ack, bounded redelivery). */
export const WORK_CONSUMER_DEFAULTS = {
  ackWaitMs: 30_000,
  maxDeliver: 20,
} as const;
