import { promises as fsp } from "node:fs";
import { LogLockedError } from "./errors.js";

/**
 * One writer per log directory. Two writers appending to the same segment would interleave
 * records and corrupt it, so open() takes a LOCK file holding the owner's pid. A lock whose
 * owner is dead (a SIGKILLed process) is stale and is taken over.
 */
const heldInThisProcess = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const real = await fsp.realpath(dir);
  if (heldInThisProcess.has(real)) throw new LogLockedError(dir, process.pid);
  const lockPath = `${dir}/LOCK`;
  for (let attempt = 0; ; attempt++) {
    try {
      const h = await fsp.open(lockPath, "wx");
      await h.writeFile(String(process.pid));
      await h.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw e;
      const pid = Number.parseInt(await fsp.readFile(lockPath, "utf8").catch(() => ""), 10);
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new LogLockedError(dir, pid);
      }
      await fsp.rm(lockPath, { force: true });
    }
  }
  heldInThisProcess.add(real);
  return async () => {
    heldInThisProcess.delete(real);
    await fsp.rm(lockPath, { force: true });
  };
}
