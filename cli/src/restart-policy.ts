// `tessera dev up --restart`: how long to wait before starting a crashed process again. A
// process that keeps dying young (a port taken, a bad flag, a peer it cannot reach) is retried
// ever more slowly instead of in a tight loop; one that ran a while starts again at once.
// Docker's policy, which compose's `restart: unless-stopped` gets: 100 ms, doubling, and back to
// 100 ms once the process has run 10 s (Docker Engine API, RestartPolicy); capped at 30 s here.

/** First wait, longest wait, and how long a process must have lived for the wait to reset. */
export const RESTART_POLICY = { firstMs: 100, maxMs: 30_000, healthyAfterMs: 10_000 } as const;

/** The wait before restarting a process that exited after living `livedMs` (0: never waited). */
export function restartDelay(previousMs: number, livedMs: number): number {
  if (previousMs === 0 || livedMs >= RESTART_POLICY.healthyAfterMs) return RESTART_POLICY.firstMs;
  return Math.min(RESTART_POLICY.maxMs, previousMs * 2);
}
