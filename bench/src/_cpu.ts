// Shared by the bench entry points: where a cluster's CPU went over a measured window.

import { readFileSync } from "node:fs";

/**
 * CPU seconds each service process used between two `E2eCluster.cpuSeconds()` readings (a
 * process missing from `before` counts from its first reading), and their total.
 */
export function cpuSince(
  before: ReadonlyMap<string, number>,
  after: ReadonlyMap<string, number>,
): { byService: Map<string, number>; total: number } {
  const byService = new Map<string, number>();
  let total = 0;
  for (const [name, s] of after) {
    const used = s - (before.get(name) ?? s);
    byService.set(name, used);
    total += used;
  }
  return { byService, total };
}

/** The whole machine's CPU time so far (jiffies: busy and all), from Linux /proc/stat. */
export interface MachineCpu {
  readonly busy: number;
  readonly total: number;
}

/** Undefined where /proc/stat is not (macOS, Windows). */
export function machineCpu(): MachineCpu | undefined {
  try {
    return parseProcStat(readFileSync("/proc/stat", "utf8"));
  } catch {
    return undefined;
  }
}

/** The aggregate `cpu` line of /proc/stat; undefined when it is missing or malformed. */
export function parseProcStat(text: string): MachineCpu | undefined {
  const line = text.split("\n", 1)[0] ?? "";
  if (!line.startsWith("cpu ")) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 8 || fields.some((v) => !Number.isSafeInteger(v) || v < 0)) return undefined;
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * Share of all cores busy between two readings, whoever used them (services, nats-server, this
 * bench, other tenants, the kernel): near 1, the cores were the limit; well below, the path
 * waited (I/O, round trips). Null where /proc/stat is not.
 */
export function machineBusySince(before: MachineCpu | undefined): number | null {
  const after = machineCpu();
  if (!before || !after || after.total <= before.total) return null;
  return Math.round(((after.busy - before.busy) / (after.total - before.total)) * 1000) / 1000;
}
