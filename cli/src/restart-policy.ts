// `tessera dev up --restart`: how long to wait before starting a crashed process again. A
// process that keeps dying young (a port taken, a bad flag, a peer it cannot reach) is retried
// ever more slowly instead of in a tight loop; one that ran a while starts again at once.

/** First wait, longest wait, and how long a process must have lived for the wait to reset. */
export const RESTART_POLICY = { firstMs: 1_000, maxMs: 30_000, healthyAfterMs: 10_000 } as const;

/** The wait before restarting a process that exited after living `livedMs` (0: never waited). */
export function restartDelay(previousMs: number, livedMs: number): number {
  if (previousMs === 0 || livedMs >= RESTART_POLICY.healthyAfterMs) return RESTART_POLICY.firstMs;
  return Math.min(RESTART_POLICY.maxMs, previousMs * 2);
}
