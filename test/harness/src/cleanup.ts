import { rmSync } from "node:fs";

/**
 * Last-resort cleanup: whatever a test forgot to stop (or could not, because the test process
 * is exiting) is SIGKILLed and its temp dir removed when this process exits, so no
 * nats-server outlives its test run. Everything here must be synchronous: `exit` handlers
 * cannot await.
 */

// Two phases: processes die first, then their directories go (a live server could re-create
// files in a directory removed under it).
const killers = new Set<() => void>();
const removers = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const set of [killers, removers]) {
    for (const fn of set) {
      try {
        fn();
      } catch {
        // Best effort: one failure must not stop the other cleanups.
      }
    }
    set.clear();
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runAll);
  // No SIGINT/SIGTERM handlers on purpose: a listener would change whether the signal
  // terminates the process (and fights other libraries' handlers). A process killed by a
  // signal still loses its servers: each runs under a supervisor that SIGKILLs it when our
  // stdin pipe closes (see nats-process.ts); only its temp dir is left behind.
}

/** Register a synchronous cleanup; returns a function that unregisters it. */
export function registerCleanup(kill: () => void): () => void {
  install();
  killers.add(kill);
  return () => {
    killers.delete(kill);
  };
}

/** Remove `dir` at exit unless unregistered first (call the returned function after removing it). */
export function registerTempDir(dir: string): () => void {
  install();
  const remove = () => rmSync(dir, { recursive: true, force: true });
  removers.add(remove);
  return () => {
    removers.delete(remove);
  };
}
