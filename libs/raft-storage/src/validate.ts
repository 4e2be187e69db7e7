import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Snapshot,
} from "@tessera/raft";
import { LogArgumentError } from "./errors.js";

/**
 * Shape checks for values crossing the storage boundary. A host bug (a NaN term, a missing
 * data array) must surface as a typed error naming the field, not as a corrupt WAL record.
 */
function nonNegativeInt(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new LogArgumentError(field, `must be a non-negative safe integer, got ${String(v)}`);
  }
  return v;
}

export function checkHardState(hs: HardState, field = "hardState"): void {
  if (hs === null || typeof hs !== "object") throw new LogArgumentError(field, "must be an object");
  nonNegativeInt(`${field}.term`, hs.term);
  nonNegativeInt(`${field}.vote`, hs.vote);
  nonNegativeInt(`${field}.commit`, hs.commit);
}

/** Entries must be well-formed, consecutive and of non-decreasing term. */
export function checkEntries(entries: readonly Entry[], field = "entries"): void {
  if (!Array.isArray(entries)) throw new LogArgumentError(field, "must be an array");
  let prev: Entry | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const f = `${field}[${i}]`;
    if (e === null || typeof e !== "object") throw new LogArgumentError(f, "must be an object");
    const index = nonNegativeInt(`${f}.index`, e.index);
    if (index === 0) throw new LogArgumentError(`${f}.index`, "must be >= 1");
    nonNegativeInt(`${f}.term`, e.term);
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) {
      throw new LogArgumentError(`${f}.type`, `unknown entry type ${String(e.type)}`);
    }
    if (!(e.data instanceof Uint8Array))
      throw new LogArgumentError(`${f}.data`, "must be a Uint8Array");
    if (prev !== undefined) {
      if (index !== prev.index + 1) {
        throw new LogArgumentError(`${f}.index`, `must follow ${prev.index}, got ${index}`);
      }
      if (e.term < prev.term) {
        throw new LogArgumentError(
          `${f}.term`,
          `must not be below the previous term ${prev.term}, got ${e.term}`,
        );
      }
    }
    prev = e;
  }
}

function checkIdList(field: string, ids: unknown): void {
  if (!Array.isArray(ids)) throw new LogArgumentError(field, "must be an array of node ids");
  ids.forEach((id, i) => {
    nonNegativeInt(`${field}[${i}]`, id);
  });
}

export function checkConfState(cs: ConfState, field = "confState"): void {
  if (cs === null || typeof cs !== "object") throw new LogArgumentError(field, "must be an object");
  checkIdList(`${field}.voters`, cs.voters);
  checkIdList(`${field}.learners`, cs.learners);
  checkIdList(`${field}.votersOutgoing`, cs.votersOutgoing);
}

export function checkSnapshot(s: Snapshot, field = "snapshot"): void {
  if (
    s === null ||
    typeof s !== "object" ||
    s.metadata === null ||
    typeof s.metadata !== "object"
  ) {
    throw new LogArgumentError(field, "must be an object with metadata");
  }
  nonNegativeInt(`${field}.metadata.index`, s.metadata.index);
  nonNegativeInt(`${field}.metadata.term`, s.metadata.term);
  checkConfState(s.metadata.confState, `${field}.metadata.confState`);
  if (!(s.data instanceof Uint8Array))
    throw new LogArgumentError(`${field}.data`, "must be a Uint8Array");
}
