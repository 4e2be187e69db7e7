import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { ValidationIssue } from "./errors.js";
import {
  commandEnvelopeIssues,
  completionBatchIssues,
  completionIssues,
  directReportIssues,
  jobSpecIssues,
  workBatchIssues,
  workItemIssues,
} from "./rules.js";
import {
  AgentControlReply,
  AgentControlReplyV1,
  AgentControlRequest,
  AgentControlRequestV1,
} from "./schemas/agent-control.js";
import {
  CommandEnvelope,
  type CommandEnvelopeV1,
  CommandEnvelopeV1Shape,
  MANIFEST_COMMAND_SCHEMAS,
  MAX_COMMAND_BYTES,
  ManifestReply,
} from "./schemas/command.js";
import {
  Completion,
  CompletionBatch,
  CompletionBatchV1,
  CompletionV1,
} from "./schemas/completion.js";
import {
  DirectReport,
  DirectReportReply,
  DirectReportReplyV1,
  DirectReportV1,
} from "./schemas/direct-report.js";
import {
  MANIFEST_EVENT_SCHEMAS,
  ManifestEventBatch,
  type ManifestEventBatchV1,
  ManifestEventBatchV1Shape,
} from "./schemas/event.js";
import { Heartbeat, HeartbeatV1 } from "./schemas/heartbeat.js";
import { MatmulJobSpec } from "./schemas/job-spec.js";
import { WorkBatch, WorkBatchV1, WorkItem, WorkItemV1 } from "./schemas/work-item.js";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  defineSchemaCodec,
  defineVersionedCodec,
  type MessageCodec,
  type Rules,
  schemaIssues,
} from "./validator.js";

/*
 * One codec per message type. To add a v2: define WorkItemV2, add it to the `WorkItem` union
 * and to the map below with its rules; consumers then receive `WorkItemV1 | WorkItemV2` and
 * switch on `v`.
 */

export const jobSpecCodec: MessageCodec<MatmulJobSpec> = defineSchemaCodec<MatmulJobSpec>(
  "job spec",
  MatmulJobSpec,
  (spec) => jobSpecIssues(spec),
);

export const workItemCodec: MessageCodec<WorkItem> = defineVersionedCodec<WorkItem>(
  "work item",
  WorkItem,
  new Map([[1, { schema: WorkItemV1, rules: workItemIssues as Rules<WorkItem> }]]),
);

export const completionCodec: MessageCodec<Completion> = defineVersionedCodec<Completion>(
  "completion",
  Completion,
  new Map([[1, { schema: CompletionV1, rules: completionIssues as Rules<Completion> }]]),
);

export const workBatchCodec: MessageCodec<WorkBatch> = defineVersionedCodec<WorkBatch>(
  "work batch",
  WorkBatch,
  new Map([[1, { schema: WorkBatchV1, rules: workBatchIssues as Rules<WorkBatch> }]]),
);

export const completionBatchCodec: MessageCodec<CompletionBatch> =
  defineVersionedCodec<CompletionBatch>(
    "completion batch",
    CompletionBatch,
    new Map([
      [1, { schema: CompletionBatchV1, rules: completionBatchIssues as Rules<CompletionBatch> }],
    ]),
  );

export const directReportCodec: MessageCodec<DirectReport> = defineVersionedCodec<DirectReport>(
  "direct report",
  DirectReport,
  new Map([[1, { schema: DirectReportV1, rules: directReportIssues as Rules<DirectReport> }]]),
);

export const directReportReplyCodec: MessageCodec<DirectReportReply> =
  defineVersionedCodec<DirectReportReply>(
    "direct report reply",
    DirectReportReply,
    new Map([[1, { schema: DirectReportReplyV1 }]]),
  );

export const heartbeatCodec: MessageCodec<Heartbeat> = defineVersionedCodec<Heartbeat>(
  "heartbeat",
  Heartbeat,
  new Map([[1, { schema: HeartbeatV1 }]]),
);

export const agentControlRequestCodec: MessageCodec<AgentControlRequest> =
  defineVersionedCodec<AgentControlRequest>(
    "agent control request",
    AgentControlRequest,
    new Map([[1, { schema: AgentControlRequestV1 }]]),
  );

export const agentControlReplyCodec: MessageCodec<AgentControlReply> =
  defineVersionedCodec<AgentControlReply>(
    "agent control reply",
    AgentControlReply,
    new Map([[1, { schema: AgentControlReplyV1 }]]),
  );

/** Bytes from the wire → validated work item (throws ProtocolError). */
export const decodeWorkItem = (bytes: Uint8Array, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): WorkItem =>
  workItemCodec.decode(bytes, maxBytes);
export const encodeWorkItem = (item: WorkItem): Uint8Array => workItemCodec.encode(item);

export const decodeCompletion = (
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): Completion => completionCodec.decode(bytes, maxBytes);
export const encodeCompletion = (c: Completion): Uint8Array => completionCodec.encode(c);

export const decodeWorkBatch = (
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): WorkBatch => workBatchCodec.decode(bytes, maxBytes);
export const encodeWorkBatch = (batch: WorkBatch): Uint8Array => workBatchCodec.encode(batch);

export const decodeCompletionBatch = (
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): CompletionBatch => completionBatchCodec.decode(bytes, maxBytes);
export const encodeCompletionBatch = (c: CompletionBatch): Uint8Array =>
  completionBatchCodec.encode(c);

export const decodeDirectReport = (
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): DirectReport => directReportCodec.decode(bytes, maxBytes);
export const encodeDirectReport = (r: DirectReport): Uint8Array => directReportCodec.encode(r);
export const decodeDirectReportReply = (
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): DirectReportReply => directReportReplyCodec.decode(bytes, maxBytes);
export const encodeDirectReportReply = (r: DirectReportReply): Uint8Array =>
  directReportReplyCodec.encode(r);

export const decodeHeartbeat = (
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): Heartbeat => heartbeatCodec.decode(bytes, maxBytes);
export const encodeHeartbeat = (hb: Heartbeat): Uint8Array => heartbeatCodec.encode(hb);

export const decodeAgentControlRequest = (bytes: Uint8Array): AgentControlRequest =>
  agentControlRequestCodec.decode(bytes, DEFAULT_MAX_MESSAGE_BYTES);
export const encodeAgentControlRequest = (r: AgentControlRequest): Uint8Array =>
  agentControlRequestCodec.encode(r);
export const decodeAgentControlReply = (bytes: Uint8Array): AgentControlReply =>
  agentControlReplyCodec.decode(bytes, DEFAULT_MAX_MESSAGE_BYTES);
export const encodeAgentControlReply = (r: AgentControlReply): Uint8Array =>
  agentControlReplyCodec.encode(r);

/** Validate a job spec from an untrusted source (CLI, HTTP); throws ProtocolValidationError. */
export const parseJobSpec = (value: unknown): MatmulJobSpec => jobSpecCodec.parse(value);

/*
 * Manifest commands, replies and events. A command or event is a union discriminated by a
 * string (`cmd.type`, `category.type`); TypeBox reports a failed union as one opaque error, so
 * the codecs first check a loose "shape" (known discriminator) and then the member's own schema,
 * which gives field paths like `/cmd/attempt` or `/events/2/jobId`.
 */

type CompiledMap = ReadonlyMap<string, ReturnType<typeof TypeCompiler.Compile>>;

function compileAll(
  schemas: Record<string, Parameters<typeof TypeCompiler.Compile>[0]>,
): CompiledMap {
  return new Map(
    Object.entries(schemas).map(([name, schema]) => [name, TypeCompiler.Compile(schema)]),
  );
}

const commandChecks = compileAll(MANIFEST_COMMAND_SCHEMAS);
const eventChecks = compileAll(MANIFEST_EVENT_SCHEMAS);

function memberIssues(
  checks: CompiledMap,
  name: string,
  value: unknown,
  prefix: string,
): ValidationIssue[] {
  const check = checks.get(name);
  if (!check) return [{ path: prefix, reason: `unknown type ${JSON.stringify(name)}` }];
  if (check.Check(value)) return [];
  return schemaIssues(check, value).map((i) => ({ path: `${prefix}${i.path}`, reason: i.reason }));
}

function envelopeRules(env: CommandEnvelopeV1): ValidationIssue[] {
  const issues = memberIssues(commandChecks, env.cmd.type, env.cmd, "/cmd");
  return issues.length > 0 ? issues : commandEnvelopeIssues(env);
}

function eventBatchRules(batch: ManifestEventBatchV1): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  batch.events.forEach((e, i) => {
    if (issues.length >= 20) return;
    issues.push(...memberIssues(eventChecks, `${e.category}.${e.type}`, e, `/events/${i}`));
  });
  return issues;
}

/** `CommandEnvelopeV1`: the bytes of a manifest command (Raft entry payload after stampedAt). */
export const commandEnvelopeCodec: MessageCodec<CommandEnvelope> =
  defineVersionedCodec<CommandEnvelope>(
    "manifest command",
    CommandEnvelope,
    new Map([
      [1, { schema: CommandEnvelopeV1Shape, rules: envelopeRules as Rules<CommandEnvelope> }],
    ]),
  );

/** The manifest's answer to one command (`ok: true` or `ok: false` with a code). */
export const manifestReplyCodec: MessageCodec<ManifestReply> = defineSchemaCodec<ManifestReply>(
  "manifest reply",
  ManifestReply,
);

/** `ManifestEventBatchV1`: the body of one TESSERA_EVENTS message (one log index). */
export const manifestEventBatchCodec: MessageCodec<ManifestEventBatch> =
  defineVersionedCodec<ManifestEventBatch>(
    "manifest event batch",
    ManifestEventBatch,
    new Map([
      [
        1,
        { schema: ManifestEventBatchV1Shape, rules: eventBatchRules as Rules<ManifestEventBatch> },
      ],
    ]),
  );

/** Command bytes → validated envelope (throws ProtocolError; limit MAX_COMMAND_BYTES). */
export const decodeCommandEnvelope = (
  bytes: Uint8Array,
  maxBytes = MAX_COMMAND_BYTES,
): CommandEnvelope => commandEnvelopeCodec.decode(bytes, maxBytes);
export const encodeCommandEnvelope = (env: CommandEnvelope): Uint8Array =>
  commandEnvelopeCodec.encode(env);

export const decodeManifestReply = (bytes: Uint8Array): ManifestReply =>
  manifestReplyCodec.decode(bytes);
export const encodeManifestReply = (reply: ManifestReply): Uint8Array =>
  manifestReplyCodec.encode(reply);

export const decodeManifestEventBatch = (
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES * 16,
): ManifestEventBatch => manifestEventBatchCodec.decode(bytes, maxBytes);
export const encodeManifestEventBatch = (batch: ManifestEventBatch): Uint8Array =>
  manifestEventBatchCodec.encode(batch);
