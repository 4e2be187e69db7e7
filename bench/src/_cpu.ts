// Shared by the bench entry points: where a cluster's CPU went over a measured window.

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
