import { RaftDecodeError } from "./errors.js";
import type { ConfState, NodeId } from "./types.js";

/**
 * Single-server membership changes (dissertation §4.1), with a non-voting catch-up phase:
 * add a new server as a learner (AddLearner), let it catch up, then promote it (AddNode).
 * One change may be pending at a time; a change takes effect on each node when that node's
 * host applies the committed entry and calls RawNode.applyConfChange (etcd semantics).
 */
export enum ConfChangeType {
  /** Add a voter, or promote an existing learner to voter. */
  AddNode = 0,
  /** Add a non-voting learner (receives the log, does not vote or count for commit). */
  AddLearner = 1,
  /** Remove a voter or learner. */
  RemoveNode = 2,
}

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque host data (e.g. the new member's address), replicated with the change. */
  context?: Uint8Array;
}

const VERSION = 1;
const HEADER = 1 + 1 + 8 + 4;

/** Encoding: [version u8][type u8][nodeId f64 LE][context length u32 LE][context bytes]. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const ctx = cc.context ?? new Uint8Array(0);
  const out = new Uint8Array(HEADER + ctx.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, VERSION);
  dv.setUint8(1, cc.type);
  dv.setFloat64(2, cc.nodeId, true);
  dv.setUint32(10, ctx.length, true);
  out.set(ctx, HEADER);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < HEADER)
    throw new RaftDecodeError("ConfChange", `too short (${data.length} bytes)`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = dv.getUint8(0);
  if (version !== VERSION) throw new RaftDecodeError("ConfChange", `unknown version ${version}`);
  const type = dv.getUint8(1);
  if (!(type in ConfChangeType)) throw new RaftDecodeError("ConfChange", `unknown type ${type}`);
  const nodeId = dv.getFloat64(2, true);
  if (!Number.isSafeInteger(nodeId) || nodeId <= 0) {
    throw new RaftDecodeError("ConfChange", `invalid nodeId ${nodeId}`);
  }
  const len = dv.getUint32(10, true);
  if (HEADER + len !== data.length) {
    throw new RaftDecodeError(
      "ConfChange",
      `context length ${len} does not match ${data.length - HEADER}`,
    );
  }
  const cc: ConfChange = { type: type as ConfChangeType, nodeId };
  if (len > 0) cc.context = data.slice(HEADER);
  return cc;
}

/**
 * Why a change cannot be applied to `cs`, or undefined if it can. Changes that are already in
 * effect (adding an existing voter, removing a non-member) are allowed: they are no-ops, so a
 * committed change never makes nodes diverge.
 */
export function confChangeProblem(cs: ConfState, cc: ConfChange): string | undefined {
  if (cs.votersOutgoing.length > 0) return "joint configurations are not supported";
  if (cc.type === ConfChangeType.RemoveNode) {
    if (cs.voters.length === 1 && cs.voters[0] === cc.nodeId) return "cannot remove the last voter";
    return undefined;
  }
  if (cc.type === ConfChangeType.AddLearner && cs.voters.includes(cc.nodeId)) {
    // Demoting a voter is a valid single-server change in etcd; we allow it too.
    if (cs.voters.length === 1) return "cannot demote the last voter";
  }
  return undefined;
}

/** Pure transition ConfState × ConfChange → ConfState (assumes confChangeProblem passed). */
export function applyConfChangeToState(cs: ConfState, cc: ConfChange): ConfState {
  const voters = cs.voters.filter((id) => id !== cc.nodeId);
  const learners = cs.learners.filter((id) => id !== cc.nodeId);
  switch (cc.type) {
    case ConfChangeType.AddNode:
      voters.push(cc.nodeId);
      break;
    case ConfChangeType.AddLearner:
      learners.push(cc.nodeId);
      break;
    case ConfChangeType.RemoveNode:
      break;
  }
  voters.sort((a, b) => a - b);
  learners.sort((a, b) => a - b);
  return { voters, learners, votersOutgoing: [] };
}
