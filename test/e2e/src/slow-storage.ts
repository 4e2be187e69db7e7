// Preloaded (`node --import <this file>`) into one agent to make it a straggler without changing
// the agent: @tessera/storage's fs backend writes an object to a temp file, fsyncs it, then
// publishes it under its key with link(2) (rename(2) where links are unsupported); every such
// publish of a tile under a job's directory (a partial or an output tile) first waits
// TESSERA_E2E_SLOW_WRITE_MS and logs `tessera-e2e slow-write <final path>` on stderr (the
// agent's log file). Only the agent's storage writes are delayed: its event loop stays free, so
// heartbeats and in-progress acks continue and the node looks healthy, just slow. A test waiting
// for the log line knows the agent is mid-task: inputs read, kernel run, output not stored yet.
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { sep } from "node:path";

const delayMs = Number(process.env.TESSERA_E2E_SLOW_WRITE_MS ?? "0");
const marker = `${sep}jobs${sep}`;

async function maybeDelay(dest: unknown): Promise<void> {
  const path = String(dest);
  if (!path.includes(marker) || !path.endsWith(".tile")) return;
  process.stderr.write(`tessera-e2e slow-write ${path}\n`);
  await new Promise<void>((r) => setTimeout(r, delayMs));
}

if (Number.isFinite(delayMs) && delayMs > 0) {
  const { link, rename } = fs.promises;
  fs.promises.link = (async (existing, dest) => {
    await maybeDelay(dest);
    return link(existing, dest);
  }) as typeof link;
  fs.promises.rename = (async (from, to) => {
    await maybeDelay(to);
    return rename(from, to);
  }) as typeof rename;
  // ESM named imports of node:fs/promises are live bindings of this object: refresh them.
  syncBuiltinESMExports();
}
