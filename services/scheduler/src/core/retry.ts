// Retries: exponential backoff between attempts of one task, and the point where retrying
// stops and the job fails with a reason a person can act on.

export interface RetryPolicy {
  /** Delay after the first failure (ms). */
  readonly baseMs: number;
  /** Upper bound on one delay (ms). */
  readonly maxMs: number;
  /** Growth per further failure (2 = doubling). */
  readonly factor: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 500, maxMs: 30_000, factor: 2 };

/** Delay before attempt number `failures + 1` may start: base · factor^(failures-1), capped. */
export function backoffMs(failures: number, policy: RetryPolicy): number {
  if (failures <= 0) return 0;
  const d = policy.baseMs * policy.factor ** (failures - 1);
  return Math.min(policy.maxMs, Number.isFinite(d) ? d : policy.maxMs);
}

/** When a task that failed `failures` times, last at `lastFailureAt`, may run again. */
export function retryDueAt(failures: number, lastFailureAt: number, policy: RetryPolicy): number {
  return lastFailureAt + backoffMs(failures, policy);
}

export interface FailureFacts {
  readonly jobId: string;
  readonly taskId: string;
  readonly failures: number;
  readonly maxAttempts: number;
  readonly lastReason: string | undefined;
  readonly lastNode: string | undefined;
}

/** Error codes → what an operator should check. Matched as prefixes of the reason. */
const HINTS: readonly (readonly [RegExp, string])[] = [
  [
    /TESSERA_E_STORAGE_CHECKSUM|TESSERA_E_TILE_/,
    "a stored tile is corrupt: run `tessera verify` on the job and check the storage backend's disks",
  ],
  [
    /TESSERA_E_STORAGE_(UNAVAILABLE|BACKEND|IO)/,
    "the storage backend keeps failing: check that it is reachable and has free space, then resubmit",
  ],
  [
    /TESSERA_E_STORAGE_NOT_FOUND/,
    "an input or partial tile is missing from storage: check retention / garbage collection settings",
  ],
  [
    /TESSERA_E_STORAGE_CONFLICT/,
    "a tile key already holds different bytes: delete the job's partials (they are recomputed) and resubmit",
  ],
  [
    /TESSERA_E_AGENT_CUDA|TESSERA_E_AGENT_KERNEL/,
    "the kernel fails on the agents: check the agents' execution provider (--ep cpu rules out CUDA)",
  ],
  [
    /expired|deadline|overran/i,
    "attempts keep overrunning their deadline: agents may be overloaded or hung; check node health or raise --deadline-factor",
  ],
  [
    /node.*failed|heartbeat/i,
    "the nodes running it keep failing: check agent logs and node health",
  ],
];

/** Operator hint for a failure reason (empty when nothing specific is known). */
export function hintFor(reason: string | undefined): string {
  if (!reason) return "";
  for (const [re, hint] of HINTS) if (re.test(reason)) return hint;
  return "";
}

/**
 * The job must fail: the task used up its attempts. Undefined while it may still retry.
 * The reason names the task, the count, the last error and node, and what to do about it.
 */
export function exhaustedReason(f: FailureFacts): string | undefined {
  if (f.failures < f.maxAttempts) return undefined;
  const last = f.lastReason ? `; last error: ${f.lastReason}` : "";
  const node = f.lastNode ? ` on node ${f.lastNode}` : "";
  const hint = hintFor(f.lastReason);
  return `task ${f.taskId} of job ${f.jobId} failed ${f.failures} of ${f.maxAttempts} allowed attempts${last}${node}${hint ? ` — ${hint}` : ""}`.slice(
    0,
    1000,
  );
}
