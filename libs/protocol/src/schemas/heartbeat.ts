import { type Static, Type } from "@sinclair/typebox";
import {
  Attempt,
  EpochMs,
  ExecutionProvider,
  JobId,
  NonEmptyString,
  NonNegativeInt,
  SubjectToken,
} from "./common.js";

export const NodeLabels = Type.Object(
  {
    cloud: NonEmptyString(64),
    region: NonEmptyString(64),
    zone: NonEmptyString(64),
    pool: SubjectToken,
  },
  { additionalProperties: false },
);
export type NodeLabels = Static<typeof NodeLabels>;

export const NodeCapacity = Type.Object(
  {
    slots: NonNegativeInt(),
    cpus: NonNegativeInt(),
    memoryBytes: NonNegativeInt(),
    gpus: NonNegativeInt(),
  },
  { additionalProperties: false },
);
export type NodeCapacity = Static<typeof NodeCapacity>;

export const RunningTask = Type.Object(
  { jobId: JobId, taskId: NonEmptyString(128), attempt: Attempt, startedAt: EpochMs },
  { additionalProperties: false },
);
export type RunningTask = Static<typeof RunningTask>;

/** Published every second on core NATS subject `tessera.hb.<nodeId>` (not persisted). */
export const HeartbeatV1 = Type.Object(
  {
    v: Type.Literal(1),
    nodeId: SubjectToken,
    seq: NonNegativeInt(),
    sentAt: EpochMs,
    labels: NodeLabels,
    capacity: NodeCapacity,
    executionProvider: ExecutionProvider,
    state: Type.Union([Type.Literal("active"), Type.Literal("standby"), Type.Literal("draining")], {
      errorMessage: 'must be "active", "standby" or "draining"',
    }),
    /**
     * Every attempt the node holds: running, or handed over to it and waiting for a slot
     * (`startedAt`: when it was accepted). A scheduler expires an attempt the manifest binds to
     * the node that these lists stop showing.
     */
    running: Type.Array(RunningTask, { maxItems: 4096 }),
  },
  { additionalProperties: false, $id: "HeartbeatV1" },
);
export type HeartbeatV1 = Static<typeof HeartbeatV1>;

export const Heartbeat = Type.Union([HeartbeatV1], { $id: "Heartbeat" });
export type Heartbeat = Static<typeof Heartbeat>;
