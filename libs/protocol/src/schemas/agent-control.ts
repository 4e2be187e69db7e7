import { type Static, Type } from "@sinclair/typebox";
import { NonEmptyString, SubjectToken } from "./common.js";

const AgentState = Type.Union(
  [Type.Literal("active"), Type.Literal("standby"), Type.Literal("draining")],
  { errorMessage: 'must be "active", "standby" or "draining"' },
);

/**
 * A request on core NATS `tessera.ctl.agent.<nodeId>` (request/reply, not persisted): what an
 * operator's `tessera node promote` or the scheduler asks one agent to do.
 * `promote`: a warm standby starts pulling work (an active agent answers unchanged).
 */
export const AgentControlRequestV1 = Type.Object(
  {
    v: Type.Literal(1),
    op: Type.Literal("promote", { errorMessage: 'must be "promote"' }),
    /** Who asks, for the agent's log (e.g. `scheduler:sched-1`, `cli`). */
    by: Type.Optional(NonEmptyString(128)),
  },
  { additionalProperties: false, $id: "AgentControlRequestV1" },
);
export type AgentControlRequestV1 = Static<typeof AgentControlRequestV1>;

export const AgentControlRequest = Type.Union([AgentControlRequestV1], {
  $id: "AgentControlRequest",
});
export type AgentControlRequest = Static<typeof AgentControlRequest>;

/** The agent's answer: its state after the request, and whether the request changed it. */
export const AgentControlReplyV1 = Type.Object(
  {
    v: Type.Literal(1),
    nodeId: SubjectToken,
    state: AgentState,
    changed: Type.Boolean({ errorMessage: "must be a boolean" }),
    /** Set when the request was refused (e.g. it could not be decoded). */
    error: Type.Optional(NonEmptyString(1000)),
  },
  { additionalProperties: false, $id: "AgentControlReplyV1" },
);
export type AgentControlReplyV1 = Static<typeof AgentControlReplyV1>;

export const AgentControlReply = Type.Union([AgentControlReplyV1], { $id: "AgentControlReply" });
export type AgentControlReply = Static<typeof AgentControlReply>;
