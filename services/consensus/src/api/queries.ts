// Read queries over the manifest, shared by gRPC Read and the HTTP GET routes. Reads never go
// through the log: a linearizable read waits for a ReadIndex barrier, then reads the local FSM.
import { ServiceError, ServiceErrorCode } from "./errors.js";

/** What the shell needs to read from the manifest FSM (an adapter over fsm/, see service.ts). */
export interface ManifestReadModel {
  /** One job's public view, or undefined. */
  job(jobId: string): unknown;
  /** One task's view (state, attempts, output), or undefined. */
  task(jobId: string, taskId: string): unknown;
  /** A page of a job's touched tasks from an ordinal, or undefined for an unknown job. */
  tasks(jobId: string, from: number, limit: number): unknown;
  /** A job's live attempts (where its running tasks run), or undefined for an unknown job. */
  attempts(jobId: string): unknown[] | undefined;
  /** Counts of jobs, tasks, nodes, sessions. */
  stats(): unknown;
  /**
   * Every job's summary, in id order; with `finishedLatest`, the unfinished ones and only that
   * many of the most recently finished.
   */
  jobs(filter?: { readonly finishedLatest?: number }): unknown[];
  /** The node registry. */
  nodes(): unknown[];
  /** Hex SHA-256 of the canonical FSM state. */
  digest(): string;
  readonly appliedIndex: number;
  /** The manifest's committed feature level and the highest this peer can apply. */
  readonly featureLevel: { readonly cluster: number; readonly supported: number };
}

export type ManifestQuery =
  | { readonly type: "job"; readonly jobId: string }
  | { readonly type: "task"; readonly jobId: string; readonly taskId: string }
  | {
      readonly type: "tasks";
      readonly jobId: string;
      readonly from: number;
      readonly limit: number;
    }
  | { readonly type: "jobs"; readonly finishedLatest?: number }
  | { readonly type: "stats" }
  | { readonly type: "nodes" }
  | { readonly type: "digest" };

export type Consistency = "linearizable" | "stale";

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function bad(field: string, reason: string): never {
  throw new ServiceError(ServiceErrorCode.BadRequest, `query ${field}: ${reason}`);
}

/** Most finished jobs a filtered job list may ask for (the manifest holds at most 10,000 jobs). */
export const FINISHED_LATEST_MAX = 100_000;

/** Tasks per `tasks` page unless asked otherwise, and the most one page may hold (≈ 300 B each). */
export const TASKS_PAGE_DEFAULT = 1_000;
export const TASKS_PAGE_MAX = 5_000;

function jobIdOf(value: Record<string, unknown>): string {
  if (typeof value.jobId !== "string" || value.jobId.length === 0 || value.jobId.length > 128) {
    bad("/jobId", "must be a non-empty string of at most 128 characters");
  }
  return value.jobId;
}

function optionalInt(
  value: Record<string, unknown>,
  key: string,
  dflt: number,
  min: number,
  max: number,
): number {
  const v = value[key];
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    bad(`/${key}`, `must be an integer in [${min}, ${max}]`);
  }
  return v;
}

/** Untrusted JSON → query; throws ServiceError(BadRequest) naming the field. */
export function parseQuery(value: unknown): ManifestQuery {
  if (!isObject(value)) bad("", "must be a JSON object {type, ...}");
  switch (value.type) {
    case "job":
      return { type: "job", jobId: jobIdOf(value) };
    case "tasks":
      return {
        type: "tasks",
        jobId: jobIdOf(value),
        from: optionalInt(value, "from", 0, 0, Number.MAX_SAFE_INTEGER),
        limit: optionalInt(value, "limit", TASKS_PAGE_DEFAULT, 1, TASKS_PAGE_MAX),
      };
    case "task": {
      const jobId = jobIdOf(value);
      if (
        typeof value.taskId !== "string" ||
        value.taskId.length === 0 ||
        value.taskId.length > 64
      ) {
        bad("/taskId", "must be a non-empty string of at most 64 characters");
      }
      return { type: "task", jobId, taskId: value.taskId };
    }
    case "jobs":
      return value.finished === undefined
        ? { type: "jobs" }
        : {
            type: "jobs",
            finishedLatest: optionalInt(value, "finished", 0, 0, FINISHED_LATEST_MAX),
          };
    case "nodes":
    case "stats":
    case "digest":
      return { type: value.type };
    default:
      return bad(
        "/type",
        'must be one of "job", "task", "tasks", "jobs", "nodes", "stats", "digest"',
      );
  }
}

export function parseConsistency(value: unknown, field = "consistency"): Consistency {
  if (value === undefined || value === "" || value === "linearizable" || value === "LINEARIZABLE") {
    return "linearizable";
  }
  if (value === "stale" || value === "STALE") return "stale";
  if (value === "CONSISTENCY_UNSPECIFIED") return "linearizable";
  throw new ServiceError(
    ServiceErrorCode.BadRequest,
    `${field}: must be "linearizable" or "stale", got ${JSON.stringify(value)}`,
  );
}

/** Runs a query against the local FSM (the caller has already waited for consistency). */
export function runQuery(model: ManifestReadModel, q: ManifestQuery): unknown {
  switch (q.type) {
    case "job":
      return model.job(q.jobId) ?? null;
    case "task":
      return model.task(q.jobId, q.taskId) ?? null;
    case "tasks":
      return model.tasks(q.jobId, q.from, q.limit) ?? null;
    case "jobs":
      return model.jobs(q.finishedLatest === undefined ? {} : { finishedLatest: q.finishedLatest });
    case "stats":
      return model.stats();
    case "nodes":
      return model.nodes();
    case "digest":
      return { digest: model.digest(), appliedIndex: model.appliedIndex };
  }
}
