import { completionIssues, jobSpecIssues, workItemIssues } from "./rules.js";
import { Completion, CompletionV1 } from "./schemas/completion.js";
import { Heartbeat, HeartbeatV1 } from "./schemas/heartbeat.js";
import { MatmulJobSpec } from "./schemas/job-spec.js";
import { WorkItem, WorkItemV1 } from "./schemas/work-item.js";
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  defineSchemaCodec,
  defineVersionedCodec,
  type MessageCodec,
  type Rules,
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

export const heartbeatCodec: MessageCodec<Heartbeat> = defineVersionedCodec<Heartbeat>(
  "heartbeat",
  Heartbeat,
  new Map([[1, { schema: HeartbeatV1 }]]),
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

export const decodeHeartbeat = (
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): Heartbeat => heartbeatCodec.decode(bytes, maxBytes);
export const encodeHeartbeat = (hb: Heartbeat): Uint8Array => heartbeatCodec.encode(hb);

/** Validate a job spec from an untrusted source (CLI, HTTP); throws ProtocolValidationError. */
export const parseJobSpec = (value: unknown): MatmulJobSpec => jobSpecCodec.parse(value);
