// Pure helpers over the consensus API's job view (GET /v1/jobs/:id): progress figures, the
// progress bar line, and the final `job submit --wait --json` summary. Read field by field so a
// missing field degrades a figure instead of crashing the command.

export interface JobProgress {
  readonly jobId: string;
  readonly state: string;
  readonly terminal: boolean;
  readonly n: number;
  readonly tile: number;
  /** Inner tiles each map sums (the spec's kPerMap; 1 when absent). */
  readonly kPerMap: number;
  /** The spec's mode: "exact", "float", or "empty" (no FLOPs, no bytes, nothing to verify). */
  readonly mode: string;
  readonly tasks: number;
  readonly done: number;
  readonly mapsDone: number;
  readonly reducesDone: number;
  readonly maps: number;
  readonly reduces: number;
  /** Attempts started (done + retries when the view does not count them). */
  readonly attempts: number;
  readonly outputDigest: string | null;
  /** true/false when the manifest records a verification verdict; null when it does not. */
  readonly verified: boolean | null;
  readonly failure: string | null;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Whether a job in this state has finished (succeeded, failed or cancelled). */
export function isFinishedState(state: string): boolean {
  return TERMINAL.has(state);
}

function num(v: unknown, fallback = 0): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

/** Reads a job view (tolerant of missing fields). */
export function jobProgress(view: unknown): JobProgress {
  const v = (view ?? {}) as Record<string, unknown>;
  const spec = (v.spec ?? {}) as Record<string, unknown>;
  const c = (v.counts ?? {}) as Record<string, unknown>;
  const n = num(spec.n);
  const tile = num(spec.tile, 1);
  const K = tile > 0 ? n / tile : 0;
  const kPerMap = num(spec.kPerMap, 1);
  const maps = num(c.maps, (K * K * K) / kPerMap);
  const reduces = num(c.reduces, K * K);
  const mapsDone = num(c.mapsDone);
  const reducesDone = num(c.reducesDone);
  const done = num(c.done, mapsDone + reducesDone);
  const state = typeof v.state === "string" ? v.state : "unknown";
  const failure = v.failure as { taskId?: unknown; reason?: unknown } | null | undefined;
  const verified =
    typeof v.verified === "boolean"
      ? v.verified
      : typeof (v.verification as { verified?: unknown } | undefined)?.verified === "boolean"
        ? ((v.verification as { verified: boolean }).verified as boolean)
        : null;
  return {
    jobId: typeof v.jobId === "string" ? v.jobId : "",
    state,
    terminal: TERMINAL.has(state),
    n,
    tile,
    kPerMap,
    mode: typeof spec.mode === "string" ? spec.mode : "exact",
    tasks: num(c.tasks, maps + reduces),
    done,
    mapsDone,
    reducesDone,
    maps,
    reduces,
    attempts: num(c.attempts, done + num(c.retries) + num(c.liveAttempts)),
    outputDigest: typeof v.outputDigest === "string" ? v.outputDigest : null,
    verified,
    failure:
      failure && typeof failure.reason === "string"
        ? `${typeof failure.taskId === "string" ? `${failure.taskId}: ` : ""}${failure.reason}`
        : null,
  };
}

/** The fields every job listing shows (`job list --json`, `tessera top`). */
export function jobBasics(p: JobProgress) {
  return {
    jobId: p.jobId,
    state: p.state,
    n: p.n,
    tile: p.tile,
    kPerMap: p.kPerMap,
    done: p.done,
    tasks: p.tasks,
  };
}

/** A job view's times (ms since the epoch, the leader's clock); null where it has none yet. */
export function jobTimes(
  view: unknown,
): Record<"submittedAt" | "startedAt" | "computedAt" | "finishedAt", number | null> {
  const v = (view ?? {}) as Record<string, unknown>;
  const at = (k: string) => (typeof v[k] === "number" ? (v[k] as number) : null);
  return {
    submittedAt: at("submittedAt"),
    startedAt: at("startedAt"),
    computedAt: at("computedAt"),
    finishedAt: at("finishedAt"),
  };
}

export interface FinishedJob {
  readonly jobId: string;
  readonly state: string;
  /** The leader's clock, ms since the epoch. */
  readonly finishedAt: number;
}

/**
 * The finished jobs (succeeded, failed, cancelled) among job views that finished at or before
 * `cutoff`, oldest first: what `tessera job delete --finished-before AGE` deletes.
 */
export function finishedBefore(views: readonly unknown[], cutoff: number): FinishedJob[] {
  const out: FinishedJob[] = [];
  for (const view of views) {
    const p = jobProgress(view);
    const { finishedAt } = jobTimes(view);
    if (p.terminal && finishedAt !== null && finishedAt <= cutoff) {
      out.push({ jobId: p.jobId, state: p.state, finishedAt });
    }
  }
  return out.sort((a, b) => a.finishedAt - b.finishedAt);
}

/** Bytes of one float32 tile file (64-byte header + t² float32). */
export function tileBytes(tile: number): number {
  return 64 + tile * tile * 4;
}

/**
 * Bytes the finished tasks consume and produce: a map reads kPerMap tiles each of A and B and
 * writes a partial; a reduce reads its K / kPerMap partials and writes one output tile. Nominal: an agent's input-tile cache
 * serves repeated A/B reads from memory, so storage itself may see fewer input bytes.
 */
export function bytesMoved(
  p: Pick<JobProgress, "n" | "tile" | "mapsDone" | "reducesDone"> & {
    kPerMap?: number;
    mode?: string;
  },
): number {
  if (p.tile <= 0 || p.mode === "empty") return 0; // an empty job's tasks move nothing
  const d = p.kPerMap ?? 1;
  const partials = p.n / p.tile / d;
  const tb = tileBytes(p.tile);
  return p.mapsDone * (2 * d + 1) * tb + p.reducesDone * (partials + 1) * tb;
}

/**
 * FLOPs of the finished maps (2·t³ per inner tile; the additions of partial sums are negligible
 * and not counted).
 */
export function flopsDone(
  p: Pick<JobProgress, "tile" | "mapsDone"> & { kPerMap?: number; mode?: string },
): number {
  if (p.mode === "empty") return 0; // an empty job's maps multiply nothing
  return p.mapsDone * (p.kPerMap ?? 1) * 2 * p.tile ** 3;
}

export function formatBytes(b: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = b;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v >= 100 || u === 0 ? 0 : 1)} ${units[u]}`;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "--";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

/** `[####----]`: `fraction` (0..1) of `width` characters filled. */
export function progressBar(fraction: number, width: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

/** One progress-bar line: `[####----] 40/80 tasks  12.3 GFLOP/s  1.2 GB moved  ETA 5.0s`. */
export function progressLine(p: JobProgress, elapsedSeconds: number, width = 28): string {
  const frac = p.tasks > 0 ? Math.min(1, p.done / p.tasks) : 0;
  const gflops = elapsedSeconds > 0 ? flopsDone(p) / elapsedSeconds / 1e9 : 0;
  const eta = frac > 0 && frac < 1 ? (elapsedSeconds * (1 - frac)) / frac : frac >= 1 ? 0 : NaN;
  return (
    `${progressBar(frac, width)} ${p.done}/${p.tasks} tasks  ${gflops.toFixed(1)} GFLOP/s  ` +
    `${formatBytes(bytesMoved(p))} moved  ETA ${formatSeconds(eta)}  ${p.state}`
  );
}

/** The `job submit --wait --json` object (one line). */
export interface SubmitSummary {
  readonly jobId: string;
  readonly status: string;
  readonly verified: boolean | null;
  readonly digest: string | null;
  readonly wallSeconds: number;
  readonly gflops: number;
  readonly bytesMoved: number;
  readonly tasks: number;
  readonly attempts: number;
  readonly reason?: string;
}

export function submitSummary(
  p: JobProgress,
  wallSeconds: number,
  verified: boolean | null,
  digest: string | null,
  reason?: string,
): SubmitSummary {
  const flops = p.mode === "empty" ? 0 : 2 * p.n ** 3;
  return {
    jobId: p.jobId,
    status: p.state,
    verified,
    digest,
    wallSeconds: Number(wallSeconds.toFixed(3)),
    gflops: wallSeconds > 0 ? Number((flops / wallSeconds / 1e9).toPrecision(4)) : 0,
    bytesMoved: bytesMoved(p),
    tasks: p.tasks,
    attempts: p.attempts,
    ...(reason !== undefined ? { reason } : {}),
  };
}
