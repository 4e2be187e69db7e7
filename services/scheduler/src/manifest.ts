// The scheduler's door to the manifest: propose commands (exactly-once through the consensus
// client's session) and read jobs / tasks / nodes. Reads come back as untyped JSON from the
// consensus Read API; they are checked here so a changed shape fails with a field path instead
// of corrupting the scheduler's view.
import { bearerHeader } from "@tessera/config";
import {
  type ApiFetch,
  apiFetcher,
  type ClusterTls,
  fetchFailureReason,
  ManifestClient,
  type ReplyJson,
} from "@tessera/consensus/client";
import type { ManifestCommand, MatmulJobSpec } from "@tessera/protocol";
import type { JobState } from "./core/view.js";
import { SchedulerError, SchedulerErrorCode } from "./errors.js";

export type { ReplyJson };

export interface ManifestJob {
  readonly jobId: string;
  readonly spec: MatmulJobSpec;
  readonly state: JobState;
  readonly maxAttempts: number;
  readonly submitIndex: number;
  readonly counts: {
    readonly mapsDone: number;
    readonly reducesDone: number;
    readonly tasks: number;
  };
  /** taskId is null when the job failed verification rather than a task. */
  readonly failure: { readonly taskId: string | null; readonly reason: string } | null;
}

export interface ManifestLiveAttempt {
  readonly attempt: number;
  readonly nodeId: string | null;
  readonly startedAt: number;
  readonly deadlineAt: number | null;
  readonly speculative: boolean;
  /** Its attempt-start-batch's id (absent from peers that predate batches). */
  readonly batch: string | null;
}

export interface ManifestTask {
  readonly taskId: string;
  readonly state: string;
  readonly lastAttempt: number;
  readonly failures: number;
  readonly live: readonly ManifestLiveAttempt[];
  /** Attempt that produced the output (complete tasks only). */
  readonly outputAttempt: number | null;
}

/** One page of a job's touched tasks and the ordinal to read the next from (null: the end). */
export interface ManifestTaskPage {
  readonly tasks: readonly ManifestTask[];
  readonly next: number | null;
}

export interface ManifestNode {
  readonly nodeId: string;
  readonly labels: { cloud: string; region: string; zone: string; pool: string };
  readonly capacity: { slots: number; cpus: number; memoryBytes: number; gpus: number };
  readonly executionProvider: string;
  readonly state: "active" | "failed";
  readonly drained: boolean;
  readonly failedAt: number | null;
}

export interface Read<T> {
  readonly appliedIndex: number;
  readonly value: T;
}

/** What the scheduler needs from the consensus service. */
export interface ManifestPort {
  propose(cmd: ManifestCommand): Promise<ReplyJson>;
  jobs(): Promise<Read<ManifestJob[]>>;
  task(jobId: string, taskId: string): Promise<Read<ManifestTask | null>>;
  /** A page of the job's touched tasks from ordinal `from` (null: no such job). */
  tasks(jobId: string, from: number, limit: number): Promise<Read<ManifestTaskPage | null>>;
  nodes(): Promise<Read<ManifestNode[]>>;
  /** Emergency stop flag (from the manifest stats). */
  stats(): Promise<Read<{ emergencyStop: boolean }>>;
  close(): void;
}

// ---- shape checks ------------------------------------------------------------------------

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function shapeError(path: string, reason: string): never {
  throw new SchedulerError(
    SchedulerErrorCode.Manifest,
    `manifest read ${path}: ${reason} (is the consensus service a compatible version?)`,
  );
}
function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) shapeError(path, "must be an object");
  return v;
}
function str(o: Obj, k: string, path: string): string {
  const v = o[k];
  if (typeof v !== "string") shapeError(`${path}/${k}`, "must be a string");
  return v;
}
function int(o: Obj, k: string, path: string): number {
  const v = o[k];
  if (typeof v !== "number" || !Number.isFinite(v)) shapeError(`${path}/${k}`, "must be a number");
  return v;
}
function intOrNull(o: Obj, k: string, path: string): number | null {
  const v = o[k];
  if (v === null || v === undefined) return null;
  return int(o, k, path);
}

const JOB_STATES: readonly JobState[] = [
  "queued",
  "running",
  "paused",
  "cancelled",
  "failed",
  "succeeded",
  "verifying",
];

export function parseJob(v: unknown, path: string): ManifestJob {
  const o = obj(v, path);
  const spec = obj(o.spec, `${path}/spec`);
  const counts = obj(o.counts, `${path}/counts`);
  const state = str(o, "state", path);
  if (!(JOB_STATES as readonly string[]).includes(state)) {
    shapeError(`${path}/state`, `must be one of ${JOB_STATES.join(", ")}`);
  }
  const failure =
    o.failure === null || o.failure === undefined ? null : obj(o.failure, `${path}/failure`);
  // kPerMap decides which maps exist and how many partials a reduce waits for: a view without it
  // plans maps the manifest does not have and reduces that never become ready.
  const kPerMap = intOrNull(spec, "kPerMap", `${path}/spec`);
  return {
    jobId: str(o, "jobId", path),
    spec: {
      n: int(spec, "n", `${path}/spec`),
      tile: int(spec, "tile", `${path}/spec`),
      mode: str(spec, "mode", `${path}/spec`) as MatmulJobSpec["mode"],
      seed: int(spec, "seed", `${path}/spec`),
      ...(kPerMap === null || kPerMap === 1 ? {} : { kPerMap }),
    },
    state: state as ManifestJob["state"],
    maxAttempts: int(o, "maxAttempts", path),
    submitIndex: int(o, "submitIndex", path),
    counts: {
      mapsDone: int(counts, "mapsDone", `${path}/counts`),
      reducesDone: int(counts, "reducesDone", `${path}/counts`),
      tasks: int(counts, "tasks", `${path}/counts`),
    },
    failure: failure
      ? {
          taskId: str(failure, "taskId", `${path}/failure`),
          reason: str(failure, "reason", `${path}/failure`),
        }
      : null,
  };
}

export function parseTask(v: unknown, path: string): ManifestTask | null {
  if (v === null || v === undefined) return null;
  const o = obj(v, path);
  const live = o.live;
  if (!Array.isArray(live)) shapeError(`${path}/live`, "must be an array");
  const output =
    o.output === null || o.output === undefined ? null : obj(o.output, `${path}/output`);
  return {
    taskId: str(o, "taskId", path),
    state: str(o, "state", path),
    lastAttempt: int(o, "lastAttempt", path),
    failures: int(o, "failures", path),
    live: live.map((a, i) => {
      const p = `${path}/live/${i}`;
      const ao = obj(a, p);
      return {
        attempt: int(ao, "attempt", p),
        nodeId: typeof ao.nodeId === "string" ? ao.nodeId : null,
        startedAt: int(ao, "startedAt", p),
        deadlineAt: intOrNull(ao, "deadlineAt", p),
        speculative: ao.speculative === true,
        batch: typeof ao.batch === "string" && ao.batch !== "" ? ao.batch : null,
      };
    }),
    outputAttempt: output ? intOrNull(output, "attempt", `${path}/output`) : null,
  };
}

export function parseTaskPage(v: unknown, path: string): ManifestTaskPage | null {
  if (v === null) return null;
  const o = obj(v, path);
  if (!Array.isArray(o.tasks)) shapeError(`${path}/tasks`, "must be an array");
  const tasks = o.tasks.map(
    (t, i) =>
      parseTask(t, `${path}/tasks/${i}`) ??
      shapeError(`${path}/tasks/${i}`, "must be a task object"),
  );
  return { tasks, next: intOrNull(o, "next", path) };
}

/** An attempt-start-batch's result: the batch id (null: nothing started) and each refusal. */
export interface StartBatchResult {
  readonly batch: string | null;
  readonly started: readonly { readonly taskId: string; readonly attempt: number }[];
  readonly refused: readonly {
    readonly taskId: string;
    readonly attempt: number;
    readonly code: string;
    readonly reason: string;
  }[];
}

export function parseStartBatchResult(v: unknown, path: string): StartBatchResult {
  const o = obj(v, path);
  const batch = o.batch === null ? null : str(o, "batch", path);
  const list = (k: string): Obj[] => {
    const a = o[k];
    if (!Array.isArray(a)) shapeError(`${path}/${k}`, "must be an array");
    return a.map((x, i) => obj(x, `${path}/${k}/${i}`));
  };
  return {
    batch,
    started: list("started").map((x, i) => ({
      taskId: str(x, "taskId", `${path}/started/${i}`),
      attempt: int(x, "attempt", `${path}/started/${i}`),
    })),
    refused: list("refused").map((x, i) => ({
      taskId: str(x, "taskId", `${path}/refused/${i}`),
      attempt: int(x, "attempt", `${path}/refused/${i}`),
      code: str(x, "code", `${path}/refused/${i}`),
      reason: str(x, "reason", `${path}/refused/${i}`),
    })),
  };
}

export function parseNode(v: unknown, path: string): ManifestNode {
  const o = obj(v, path);
  const labels = obj(o.labels, `${path}/labels`);
  const cap = obj(o.capacity, `${path}/capacity`);
  const state = str(o, "state", path);
  if (state !== "active" && state !== "failed")
    shapeError(`${path}/state`, 'must be "active" or "failed"');
  return {
    nodeId: str(o, "nodeId", path),
    labels: {
      cloud: str(labels, "cloud", `${path}/labels`),
      region: str(labels, "region", `${path}/labels`),
      zone: str(labels, "zone", `${path}/labels`),
      pool: str(labels, "pool", `${path}/labels`),
    },
    capacity: {
      slots: int(cap, "slots", `${path}/capacity`),
      cpus: int(cap, "cpus", `${path}/capacity`),
      memoryBytes: int(cap, "memoryBytes", `${path}/capacity`),
      gpus: int(cap, "gpus", `${path}/capacity`),
    },
    executionProvider: str(o, "executionProvider", path),
    state,
    drained: o.drained === true,
    failedAt: intOrNull(o, "failedAt", path),
  };
}

// ---- the consensus adapter ---------------------------------------------------------------

/**
 * Turns `--consensus` entries into gRPC addresses: `host:port` / `grpc://host:port` as they
 * are; `http://host:port` asks that peer's /v1/cluster for every peer's gRPC address.
 */
/** How the scheduler reaches the peers' HTTP API: its bearer token, a fetch trusting its CA. */
export interface ApiAccess {
  readonly token?: string;
  readonly fetch?: ApiFetch;
}

export async function resolveGrpcPeers(
  entries: readonly string[],
  timeoutMs = 5_000,
  api: ApiAccess = {},
): Promise<string[]> {
  const apiFetch = api.fetch ?? apiFetcher();
  const out = new Set<string>();
  const errors: string[] = [];
  for (const e of entries) {
    if (!/^https?:\/\//.test(e)) {
      out.add(e.replace(/^grpc:\/\//, ""));
      continue;
    }
    try {
      const res = await apiFetch(`${e.replace(/\/$/, "")}/v1/cluster`, {
        signal: AbortSignal.timeout(timeoutMs),
        headers: bearerHeader(api.token),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = obj(await res.json(), "/v1/cluster");
      const peers = body.peers;
      if (!Array.isArray(peers)) shapeError("/v1/cluster/peers", "must be an array");
      for (const p of peers) {
        const g = isObj(p) ? p.grpc : undefined;
        if (typeof g === "string" && g !== "") out.add(g);
      }
    } catch (err) {
      errors.push(`${e}: ${fetchFailureReason(err, e)}`);
    }
  }
  if (out.size === 0) {
    throw new SchedulerError(
      SchedulerErrorCode.Consensus,
      `no consensus peer answered (${errors.join("; ")}); check --consensus and that the peers run`,
    );
  }
  return [...out];
}

export class ConsensusManifest implements ManifestPort {
  private constructor(private readonly client: ManifestClient) {}

  /**
   * `tls`: the cluster's mutual TLS (`--cluster-tls-*`), when the peers' gRPC port requires it;
   * `api`: the HTTP API's token and CA, when `entries` are URLs of peers that require them.
   */
  static async connect(
    entries: readonly string[],
    clientId: string,
    tls?: ClusterTls,
    api: ApiAccess = {},
  ): Promise<ConsensusManifest> {
    const peers = await resolveGrpcPeers(entries, undefined, api);
    return new ConsensusManifest(
      new ManifestClient({ peers, clientId, timeoutMs: 15_000, ...(tls ? { tls } : {}) }),
    );
  }

  async propose(cmd: ManifestCommand): Promise<ReplyJson> {
    return (await this.client.propose(cmd)).reply;
  }

  async jobs(): Promise<Read<ManifestJob[]>> {
    const r = await this.client.read({ type: "jobs" });
    if (!Array.isArray(r.result)) shapeError("jobs", "must be an array");
    return {
      appliedIndex: r.appliedIndex,
      value: r.result.map((j, i) => parseJob(j, `jobs/${i}`)),
    };
  }

  async task(jobId: string, taskId: string): Promise<Read<ManifestTask | null>> {
    const r = await this.client.read({ type: "task", jobId, taskId });
    return { appliedIndex: r.appliedIndex, value: parseTask(r.result, `task ${jobId}/${taskId}`) };
  }

  async tasks(jobId: string, from: number, limit: number): Promise<Read<ManifestTaskPage | null>> {
    const r = await this.client.read({ type: "tasks", jobId, from, limit });
    return {
      appliedIndex: r.appliedIndex,
      value: parseTaskPage(r.result, `tasks ${jobId}@${from}`),
    };
  }

  async nodes(): Promise<Read<ManifestNode[]>> {
    const r = await this.client.read({ type: "nodes" });
    if (!Array.isArray(r.result)) shapeError("nodes", "must be an array");
    return {
      appliedIndex: r.appliedIndex,
      value: r.result.map((n, i) => parseNode(n, `nodes/${i}`)),
    };
  }

  async stats(): Promise<Read<{ emergencyStop: boolean }>> {
    const r = await this.client.read({ type: "stats" });
    const o = obj(r.result, "stats");
    return { appliedIndex: r.appliedIndex, value: { emergencyStop: o.emergencyStop === true } };
  }

  close(): void {
    this.client.close();
  }
}
