/**
 * Deterministic contents for the crash test: the bytes of an entry follow from its index and
 * term, so a checker can tell a correct entry from a torn, stale or misplaced one without
 * having recorded it.
 */
export function entryContent(index: number, term: number): Uint8Array {
  const len = 1 + ((index * 7919) % 300);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (index * 31 + term * 17 + i * 7) & 0xff;
  return out;
}

export function snapshotContent(index: number): Uint8Array {
  return new TextEncoder().encode(`state-machine-at-${index}`);
}
