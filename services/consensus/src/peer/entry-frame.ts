// The payload of an application log entry: the leader's wall-clock stamp (float64 LE, ms), then
// either one command exactly as proposed, or a batch frame holding several.
//
// The leader packs the commands that queue up while its previous append is being fsynced into
// one entry (see RaftPeer.flushQueued): one log record, one append per follower, one apply step
// and one TESSERA_EVENTS message carry them all, instead of one of each per command. Entries
// written before batching existed are single commands, so they still decode the same way.
//
// Batch frame: BATCH_TAG (u8), count (u32 LE), then per command its length (u32 LE) and bytes.
// Commands are JSON envelopes and never start with BATCH_TAG; a single command that does is
// framed as a batch of one, so the two forms cannot be confused.

export const STAMP_BYTES = 8;
export const BATCH_TAG = 0x01;

/** Most commands, and bytes of them, the leader packs into one entry (its events: one message). */
export const MAX_COMMANDS_PER_ENTRY = 128;
export const MAX_BYTES_PER_ENTRY = 128 * 1024;

export interface DecodedEntry {
  readonly stampedAt: number;
  readonly commands: readonly Uint8Array[];
  /** True when the entry holds a batch frame (applied with StateMachine.applyBatch). */
  readonly batched: boolean;
}

export function encodeEntry(stampedAt: number, commands: readonly Uint8Array[]): Uint8Array {
  const first = commands[0];
  if (first === undefined) throw new RangeError("an entry needs at least one command");
  if (commands.length === 1 && first[0] !== BATCH_TAG) {
    const entry = new Uint8Array(STAMP_BYTES + first.length);
    new DataView(entry.buffer).setFloat64(0, stampedAt, true);
    entry.set(first, STAMP_BYTES);
    return entry;
  }
  let size = STAMP_BYTES + 1 + 4;
  for (const c of commands) size += 4 + c.length;
  const entry = new Uint8Array(size);
  const view = new DataView(entry.buffer);
  view.setFloat64(0, stampedAt, true);
  entry[STAMP_BYTES] = BATCH_TAG;
  view.setUint32(STAMP_BYTES + 1, commands.length, true);
  let at = STAMP_BYTES + 5;
  for (const c of commands) {
    view.setUint32(at, c.length, true);
    entry.set(c, at + 4);
    at += 4 + c.length;
  }
  return entry;
}

/**
 * Splits an entry's payload; undefined when it is not one this host wrote (shorter than the
 * stamp, or a batch frame that does not add up). Commands are views into `data`, not copies.
 */
export function decodeEntry(data: Uint8Array): DecodedEntry | undefined {
  if (data.length < STAMP_BYTES) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stampedAt = view.getFloat64(0, true);
  if (data.length === STAMP_BYTES || data[STAMP_BYTES] !== BATCH_TAG) {
    return { stampedAt, commands: [data.subarray(STAMP_BYTES)], batched: false };
  }
  if (data.length < STAMP_BYTES + 5) return undefined;
  const count = view.getUint32(STAMP_BYTES + 1, true);
  const commands: Uint8Array[] = [];
  let at = STAMP_BYTES + 5;
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return undefined;
    const len = view.getUint32(at, true);
    if (at + 4 + len > data.length) return undefined;
    commands.push(data.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  if (at !== data.length || count === 0) return undefined;
  return { stampedAt, commands, batched: true };
}

/**
 * Splits queued commands, in order, into runs of one entry each: at most `maxCommands`, and at
 * most `maxBytes` of commands unless one command alone is larger (it then goes alone).
 */
export function packRuns<T extends { readonly data: Uint8Array }>(
  items: readonly T[],
  maxCommands = MAX_COMMANDS_PER_ENTRY,
  maxBytes = MAX_BYTES_PER_ENTRY,
): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = item.data.length;
    if (run.length > 0 && (run.length >= maxCommands || bytes + size > maxBytes)) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
