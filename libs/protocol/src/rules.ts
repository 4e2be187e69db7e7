import type { ValidationIssue } from "./errors.js";
import type { CommandEnvelopeV1 } from "./schemas/command.js";
import type { CompletionBatchV1, CompletionV1 } from "./schemas/completion.js";
import type { DirectReportV1 } from "./schemas/direct-report.js";
import { MAX_MAP_OPERAND_ELEMENTS, type MatmulJobSpec, TILE_REASON } from "./schemas/job-spec.js";
import type { WorkBatchV1, WorkItemV1 } from "./schemas/work-item.js";

/*
 * Cross-field rules: pure functions from a schema-valid value to the issues found.
 * Paths are JSON pointers so messages read like `work item: /job/tile: must divide n (100)`.
 */

export function isPowerOfTwo(x: number): boolean {
  return Number.isInteger(x) && x > 0 && (x & (x - 1)) === 0;
}

/** Canonical task id of a Map (i,j,k) or Reduce (i,j) task. */
export function expectedTaskId(kind: "map" | "reduce", i: number, j: number, k?: number): string {
  return kind === "map" ? `m-${i}-${j}-${k}` : `r-${i}-${j}`;
}

/** Canonical id of one attempt at a task: `${jobId}/${taskId}/${attempt}`. */
export function workItemId(jobId: string, taskId: string, attempt: number): string {
  return `${jobId}/${taskId}/${attempt}`;
}

/** The fields that make a work item; itemId is derived, absent k / deadline are left out. */
export interface WorkItemFields {
  readonly jobId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly kind: "map" | "reduce";
  readonly job: MatmulJobSpec;
  readonly i: number;
  readonly j: number;
  readonly k?: number | undefined;
  readonly pool: string;
  readonly issuedAt: number;
  readonly deadlineMs?: number | undefined;
}

/** The work item of one attempt (the scheduler's publication and the manifest's hand-over). */
export function buildWorkItem(f: WorkItemFields): WorkItemV1 {
  return {
    v: 1,
    itemId: workItemId(f.jobId, f.taskId, f.attempt),
    jobId: f.jobId,
    taskId: f.taskId,
    attempt: f.attempt,
    kind: f.kind,
    job: { ...f.job },
    i: f.i,
    j: f.j,
    ...(f.k === undefined ? {} : { k: f.k }),
    pool: f.pool,
    issuedAt: f.issuedAt,
    ...(f.deadlineMs === undefined ? {} : { deadlineMs: Math.round(f.deadlineMs) }),
  };
}

export function jobSpecIssues(spec: MatmulJobSpec, prefix = ""): ValidationIssue[] {
  if (!isPowerOfTwo(spec.tile)) return [{ path: `${prefix}/tile`, reason: TILE_REASON }];
  if (spec.n % spec.tile !== 0) {
    return [{ path: `${prefix}/tile`, reason: `must divide n (${spec.n})` }];
  }
  const K = spec.n / spec.tile;
  if (spec.kPerMap !== undefined && K % spec.kPerMap !== 0) {
    return [{ path: `${prefix}/kPerMap`, reason: `must divide the tiles per side n/tile (${K})` }];
  }
  if (spec.kPerMap !== undefined && spec.kPerMap * spec.tile ** 2 > MAX_MAP_OPERAND_ELEMENTS) {
    return [
      {
        path: `${prefix}/kPerMap`,
        reason: `kPerMap·tile² must be ≤ ${MAX_MAP_OPERAND_ELEMENTS} (a map's packed operand ≤ 256 MiB)`,
      },
    ];
  }
  return [];
}

export function workItemIssues(item: WorkItemV1): ValidationIssue[] {
  const specIssues = jobSpecIssues(item.job, "/job");
  if (specIssues.length > 0) return specIssues;
  const issues: ValidationIssue[] = [];
  const tiles = item.job.n / item.job.tile;
  const inRange = (field: "i" | "j", value: number) => {
    if (value >= tiles) {
      issues.push({ path: `/${field}`, reason: `must be < n/tile (${tiles}), got ${value}` });
    }
  };
  inRange("i", item.i);
  inRange("j", item.j);
  if (item.kind === "map") {
    const groups = tiles / (item.job.kPerMap ?? 1);
    if (item.k === undefined) issues.push({ path: "/k", reason: "is required for a map item" });
    else if (item.k >= groups) {
      issues.push({
        path: "/k",
        reason:
          groups === tiles
            ? `must be < n/tile (${tiles}), got ${item.k}`
            : `must be < n/tile/kPerMap (${groups}), got ${item.k}`,
      });
    }
  } else if (item.k !== undefined) {
    issues.push({ path: "/k", reason: "must be absent for a reduce item" });
  }
  if (issues.length > 0) return issues;
  const taskId = expectedTaskId(item.kind, item.i, item.j, item.k);
  if (item.taskId !== taskId) {
    issues.push({ path: "/taskId", reason: `must be "${taskId}" for this ${item.kind} item` });
  }
  const itemId = workItemId(item.jobId, item.taskId, item.attempt);
  if (item.itemId !== itemId) {
    issues.push({ path: "/itemId", reason: `must be "${itemId}" (jobId/taskId/attempt)` });
  }
  return issues;
}

export function completionIssues(c: CompletionV1): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (c.status === "ok" && c.output === undefined) {
    issues.push({ path: "/output", reason: 'is required when status is "ok"' });
  }
  if (c.status === "failed" && c.error === undefined) {
    issues.push({ path: "/error", reason: 'is required when status is "failed"' });
  }
  const itemId = workItemId(c.jobId, c.taskId, c.attempt);
  if (c.itemId !== itemId) {
    issues.push({ path: "/itemId", reason: `must be "${itemId}" (jobId/taskId/attempt)` });
  }
  return issues;
}

/** What `check` finds in each member of `list`, under `/<field>/<i>`; at most 20 issues. */
function listIssues<T>(
  field: string,
  list: readonly T[],
  check: (member: T) => ValidationIssue[],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  list.forEach((member, i) => {
    if (issues.length >= 20) return;
    for (const issue of check(member)) {
      issues.push({ path: `/${field}/${i}${issue.path}`, reason: issue.reason });
    }
  });
  return issues;
}

/** Every item valid on its own, of the batch's job and pool, each attempt at most once. */
export function workBatchIssues(batch: WorkBatchV1): ValidationIssue[] {
  const seen = new Set<string>();
  return listIssues("items", batch.items, (item) => {
    const issues = workItemIssues(item);
    if (item.jobId !== batch.jobId) {
      issues.push({ path: "/jobId", reason: `must be the batch's job "${batch.jobId}"` });
    }
    if (item.pool !== batch.pool) {
      issues.push({ path: "/pool", reason: `must be the batch's pool "${batch.pool}"` });
    }
    if (seen.has(item.itemId)) issues.push({ path: "/itemId", reason: `repeats ${item.itemId}` });
    seen.add(item.itemId);
    return issues;
  });
}

/** Every completion valid on its own and reported by the batch's node. */
export function completionBatchIssues(batch: CompletionBatchV1): ValidationIssue[] {
  return listIssues("completions", batch.completions, (c) => {
    const issues = completionIssues(c);
    if (c.nodeId !== batch.nodeId) {
      issues.push({ path: "/nodeId", reason: `must be the batch's node "${batch.nodeId}"` });
    }
    return issues;
  });
}

/** Exactly one report, itself valid; the session's ackedSeq below its seq. */
export function directReportIssues(r: DirectReportV1): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if ((r.completion === undefined) === (r.batch === undefined)) {
    issues.push({ path: "/completion", reason: "exactly one of completion and batch is required" });
  }
  if (r.ackedSeq !== undefined && r.ackedSeq >= r.seq) {
    issues.push({ path: "/ackedSeq", reason: `must be < seq (${r.seq})` });
  }
  const nested = (field: string, found: ValidationIssue[]) =>
    found.map((issue) => ({ path: `/${field}${issue.path}`, reason: issue.reason }));
  if (r.completion) issues.push(...nested("completion", completionIssues(r.completion)));
  if (r.batch) issues.push(...nested("batch", completionBatchIssues(r.batch)));
  return issues;
}

/** Cross-field rules of a manifest command envelope whose `cmd` is schema-valid. */
export function commandEnvelopeIssues(env: CommandEnvelopeV1): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (env.ackedSeq !== undefined && env.ackedSeq >= env.seq) {
    issues.push({ path: "/ackedSeq", reason: `must be < seq (${env.seq})` });
  }
  const cmd = env.cmd;
  if (cmd.type === "submit-job") {
    issues.push(...jobSpecIssues(cmd.spec, "/cmd/spec"));
    if (cmd.jobId === "." || cmd.jobId === "..") {
      issues.push({
        path: "/cmd/jobId",
        reason: 'must not be "." or ".." (it names storage keys)',
      });
    }
  }
  if (cmd.type === "attempt-report-batch") {
    cmd.reports.forEach((r, i) => {
      if ("handover" in r && r.handover !== undefined) {
        issues.push({
          path: `/cmd/reports/${i}/handover`,
          reason: "is given once, for the whole batch (/cmd/handover)",
        });
      }
    });
  }
  if (cmd.type === "job-verified" && cmd.verified && cmd.digest === undefined) {
    // A positive verdict is only meaningful for the output it was computed over.
    issues.push({ path: "/cmd/digest", reason: "is required when verified is true" });
  }
  return issues;
}
