import type { NodeCapacity, NodeLabels } from "@tessera/protocol";
import type { ChunkWriter, Reader } from "./binary.js";
import { FsmSnapshotError } from "./errors.js";

/** One agent node as the manifest knows it (from node-upsert / node-failed / node-drain). */
export interface NodeRecord {
  readonly nodeId: string;
  labels: NodeLabels;
  capacity: NodeCapacity;
  executionProvider: "cpu" | "cuda";
  /** "active" until a node-failed; a later node-upsert makes it active again. */
  state: "active" | "failed";
  /** Drained nodes finish their live attempts but may not start new ones. */
  drained: boolean;
  /** Why, as the drain said ("" when it did not, and while undrained). */
  drainReason: string;
  /** Stamped log time of the first upsert. */
  readonly joinedAt: number;
  /** `at` of the latest upsert (heartbeat receive time, as proposed). */
  lastUpsertAt: number;
  /** -1 while active. */
  failedAt: number;
  failReason: string;
}

export function sameNodeInfo(
  n: NodeRecord,
  labels: NodeLabels,
  capacity: NodeCapacity,
  executionProvider: string,
): boolean {
  return (
    n.executionProvider === executionProvider &&
    n.labels.cloud === labels.cloud &&
    n.labels.region === labels.region &&
    n.labels.zone === labels.zone &&
    n.labels.pool === labels.pool &&
    n.capacity.slots === capacity.slots &&
    n.capacity.cpus === capacity.cpus &&
    n.capacity.memoryBytes === capacity.memoryBytes &&
    n.capacity.gpus === capacity.gpus
  );
}

/** `withDrainReason`: snapshot v7 and later (older formats have no reason). */
export function writeNode(w: ChunkWriter, n: NodeRecord, withDrainReason: boolean): void {
  w.str(n.nodeId);
  w.str(n.labels.cloud);
  w.str(n.labels.region);
  w.str(n.labels.zone);
  w.str(n.labels.pool);
  w.f64(n.capacity.slots);
  w.f64(n.capacity.cpus);
  w.f64(n.capacity.memoryBytes);
  w.f64(n.capacity.gpus);
  w.u8(n.executionProvider === "cpu" ? 0 : 1);
  w.u8(n.state === "active" ? 0 : 1);
  w.bool(n.drained);
  if (withDrainReason) w.str(n.drainReason);
  w.f64(n.joinedAt);
  w.f64(n.lastUpsertAt);
  w.f64(n.failedAt);
  w.str(n.failReason);
}

export function readNode(r: Reader, withDrainReason: boolean): NodeRecord {
  const nodeId = r.str("node id");
  const labels = {
    cloud: r.str("cloud"),
    region: r.str("region"),
    zone: r.str("zone"),
    pool: r.str("pool"),
  };
  const capacity = {
    slots: r.f64("slots"),
    cpus: r.f64("cpus"),
    memoryBytes: r.f64("memoryBytes"),
    gpus: r.f64("gpus"),
  };
  const provider = r.u8("executionProvider");
  const state = r.u8("node state");
  if (provider > 1 || state > 1) throw new FsmSnapshotError(`node ${nodeId}: bad enum`, r.pos);
  return {
    nodeId,
    labels,
    capacity,
    executionProvider: provider === 0 ? "cpu" : "cuda",
    state: state === 0 ? "active" : "failed",
    drained: r.bool("drained"),
    drainReason: withDrainReason ? r.str("drain reason") : "",
    joinedAt: r.f64("joinedAt"),
    lastUpsertAt: r.f64("lastUpsertAt"),
    failedAt: r.f64("failedAt"),
    failReason: r.str("failReason"),
  };
}
