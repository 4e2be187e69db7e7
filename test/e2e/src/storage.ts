// Direct access to the fs object store's files, for corrupting what the cluster stored.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute path of the slow-storage preload (built next to this module's dist). */
export function slowStoragePreload(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "slow-storage.js");
}

/** Environment that turns an agent into a straggler (see slow-storage.ts). */
export function slowAgentEnv(delayMs: number): NodeJS.ProcessEnv {
  const preload = slowStoragePreload();
  if (!existsSync(preload)) {
    throw new Error(`${preload} is missing: build @tessera/test-e2e first`);
  }
  return {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${preload}`.trim(),
    TESSERA_E2E_SLOW_WRITE_MS: String(delayMs),
  };
}

/**
 * Files directly under `<root>/jobs/<jobId>/<sub>/` whose names end in `.tile` (the fs store
 * keeps an object at its key path; temp files have other suffixes).
 */
export function storedTiles(root: string, jobId: string, sub: "partials" | "C"): string[] {
  const dir = join(root, "jobs", jobId, sub);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".tile"))
    .sort()
    .map((f) => join(dir, f));
}

/** Flips every bit of one payload byte (past the 64-byte tile header) of a stored tile file. */
export function flipByte(file: string, offset = 64 + 17): void {
  const bytes = readFileSync(file);
  if (offset >= bytes.length)
    throw new Error(`${file}: ${bytes.length} bytes, cannot flip ${offset}`);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
  writeFileSync(file, bytes);
}
