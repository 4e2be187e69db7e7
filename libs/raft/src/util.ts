import type { Entry } from "./types.js";

/** Bytes an entry counts for size limits (data plus a small fixed header estimate). */
export function entrySize(e: Entry): number {
  return e.data.byteLength + 16;
}

/** Total payload size of entries, the quantity that uncommitted/size limits are based on. */
export function payloadSize(ents: readonly Entry[]): number {
  let s = 0;
  for (const e of ents) s += e.data.byteLength;
  return s;
}

/**
 * The longest prefix of ents whose total size is <= maxBytes, but never fewer than one entry
 * (progress must always be possible). Returns ents itself when nothing is cut (no copy).
 */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length <= 1) return ents;
  let size = entrySize(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}
