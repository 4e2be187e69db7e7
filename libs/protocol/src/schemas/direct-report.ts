import { type Static, Type } from "@sinclair/typebox";
import { envelopeFields, MAX_HANDOVER } from "./command.js";
import { SubjectToken } from "./common.js";
import { CompletionBatchV1, CompletionV1 } from "./completion.js";
import { WorkItemV1 } from "./work-item.js";

/**
 * An agent's report sent straight to the consensus leader on `tessera.leader.report` (core NATS
 * request/reply) instead of through TESSERA_CMD: one JetStream hand-off less, and the reply,
 * sent once the report is committed and applied, carries the work items of the armed attempts
 * it started for this agent (up to `handoverMax`, of `pool`; see Handover in command.ts), so a
 * dependent reduce starts without a trip through the scheduler and the work queue.
 * (clientId, seq) make it exactly-once like any command: a retry of the same seq, at this
 * leader or the next, gets the first reply, handed work included. Exactly one of `completion`
 * and `batch` (rules.ts). An agent that gets no `applied` answer publishes the same report on
 * TESSERA_CMD, which stays the durable path.
 *
 * `early`: the agent also takes the work the report would hand over before it commits (one
 * `early` answer ahead of the final one, on the same reply subject; see DirectReportReplyV1).
 * It can then start a dependent reduce while the report's entry is still being replicated.
 */
export const DirectReportV1 = Type.Object(
  {
    ...envelopeFields,
    pool: SubjectToken,
    /** 0: hand nothing over (the report still goes the short way). */
    handoverMax: Type.Integer({
      minimum: 0,
      maximum: MAX_HANDOVER,
      errorMessage: `must be an integer in 0..${MAX_HANDOVER}`,
    }),
    completion: Type.Optional(CompletionV1),
    batch: Type.Optional(CompletionBatchV1),
    early: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, $id: "DirectReportV1" },
);
export type DirectReportV1 = Static<typeof DirectReportV1>;

export const DirectReport = Type.Union([DirectReportV1], { $id: "DirectReport" });
export type DirectReport = Static<typeof DirectReport>;

/**
 * The leader's answer to a DirectReportV1.
 * - `applied`: committed and applied; `ok` false (with `code`, `reason`) when the manifest
 *   refused it, which settles the work message just as a stored TESSERA_CMD publish would;
 *   `handed` are the agent's to run now (nobody else publishes them).
 * - `unavailable`: not committed by this answer (not the leader, or the proposal's outcome is
 *   unknown): retry the same seq, or publish the report on TESSERA_CMD.
 * - `invalid`: the request does not validate (`reason` names the field).
 * - `early` (only to a report that asked for it, and only when there is something to hand
 *   over; always followed by one of the above): the work the report would hand over, read off
 *   the manifest as the leader last applied it, sent before the report commits. It binds
 *   nothing: the final `applied` answer's `handed` is what the manifest started for this agent.
 *   An early item that answer does not list may have been wrongly predicted (an entry in flight
 *   changed the manifest); its report is then refused, which costs the work and nothing else.
 */
export const DirectReportReplyV1 = Type.Object(
  {
    v: Type.Literal(1),
    outcome: Type.Union(
      [
        Type.Literal("applied"),
        Type.Literal("unavailable"),
        Type.Literal("invalid"),
        Type.Literal("early"),
      ],
      { errorMessage: 'must be "applied", "unavailable", "invalid" or "early"' },
    ),
    ok: Type.Optional(Type.Boolean()),
    code: Type.Optional(Type.String({ maxLength: 128 })),
    reason: Type.Optional(Type.String({ maxLength: 4096 })),
    handed: Type.Array(WorkItemV1, { maxItems: MAX_HANDOVER }),
  },
  { additionalProperties: false, $id: "DirectReportReplyV1" },
);
export type DirectReportReplyV1 = Static<typeof DirectReportReplyV1>;

export const DirectReportReply = Type.Union([DirectReportReplyV1], { $id: "DirectReportReply" });
export type DirectReportReply = Static<typeof DirectReportReply>;
