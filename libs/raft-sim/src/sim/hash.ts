/** FNV-1a over bytes: a cheap 32-bit fingerprint for comparing entries and states across nodes. */
export function hashBytes(data: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ (data[i] as number), 0x01000193);
  return h >>> 0;
}

export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Order-sensitive combination of 32-bit hashes (for running trace digests). */
export function mix(h: number, v: number): number {
  let x = Math.imul(h ^ v, 0x9e3779b1);
  x ^= x >>> 15;
  return Math.imul(x, 0x85ebca77) >>> 0;
}
