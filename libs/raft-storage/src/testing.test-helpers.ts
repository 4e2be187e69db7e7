import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Entry, EntryType } from "@tessera/raft";
import { afterEach } from "vitest";

/** A fresh temp dir per call, removed after the test. */
const dirs: string[] = [];
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "raft-storage-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Entry whose 8 data bytes spell its index and term (so every record has the same size). */
export function ent(index: number, term: number): Entry {
  const data = new TextEncoder().encode(
    `${String(index).padStart(4, "0")}@${String(term).padStart(3, "0")}`,
  );
  return { index, term, type: EntryType.Normal, data };
}
export const ENTRY_RECORD_BYTES = 12 + 17 + 8;

export function range(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => ent(from + i, term));
}

export function text(e: Entry): string {
  return new TextDecoder().decode(e.data);
}
