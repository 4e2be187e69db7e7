// Jobs from the outside: submitted through the `tessera` CLI as a separate process (what an
// operator runs), observed through the consensus HTTP API and the committed event stream, and
// checked against a digest computed here from @tessera/matrix's reference GEMM.

import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { natsSecurityFromEnv } from "@tessera/config";
import {
  crc32cHex,
  encodeTile,
  jobOutputDigest,
  type MatmulJobSpec,
  referenceOutputTile,
  tileModeOf,
} from "@tessera/matrix";
import { nextWithDeadline } from "@tessera/messaging";
import {
  decodeHeartbeat,
  decodeManifestEventBatch,
  EVENTS_STREAM,
  heartbeatSubject,
  type ManifestEvent,
} from "@tessera/protocol";
import { apiFetch, apiHeaders, type E2eCluster, E2eError } from "./cluster.js";
import { connectTo, type NatsAt, type NatsTarget } from "./nats-target.js";

const require = createRequire(import.meta.url);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The built `tessera` entry point (cli/dist/main.js, also when tests resolve cli/src). */
export function cliMain(): string {
  return join(dirname(require.resolve("@tessera/cli")), "..", "dist", "main.js");
}

/** `job submit --wait --json` summary (cli/src/job-view.ts SubmitSummary). */
export interface SubmitResult {
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

export interface CliRun<T> {
  readonly child: ChildProcess;
  /** Resolves with the last stdout line parsed as JSON (rejects if there is none). */
  readonly result: Promise<T>;
}

/** Runs `node cli/dist/main.js <args> --json --server <every peer>`. */
export function runCli<T = unknown>(
  cluster: E2eCluster,
  args: readonly string[],
  timeoutMs = 60_000,
): CliRun<T> {
  const child = spawn(
    process.execPath,
    [cliMain(), ...args, "--json", "--server", cluster.servers],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TESSERA_SERVER: "" } },
  );
  let out = "";
  let err = "";
  child.stdout?.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr?.on("data", (b: Buffer) => {
    err += b.toString();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const result = new Promise<T>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new E2eError(
            `tessera ${args.join(" ")} did not finish within ${timeoutMs} ms (killed); stderr: ${err.slice(-1500)}`,
          ),
        );
        return;
      }
      const last = out.trim().split("\n").pop() ?? "";
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(
          new E2eError(
            `tessera ${args.join(" ")} exited ${code} without a JSON line; stdout: ${out.slice(-500)} stderr: ${err.slice(-1500)}`,
          ),
        );
      }
    });
  });
  return { child, result };
}

/**
 * `tessera job submit matmul --n … --tile … --mode … --seed … --job-id ID --wait --json`: the
 * job id is chosen here so a test can disturb the job while the CLI waits for it.
 */
export function submitViaCli(
  cluster: E2eCluster,
  spec: MatmulJobSpec,
  jobId: string,
  timeoutMs = 180_000,
): CliRun<SubmitResult> {
  return runCli<SubmitResult>(
    cluster,
    [
      "job",
      "submit",
      "matmul",
      "--n",
      String(spec.n),
      "--tile",
      String(spec.tile),
      "--mode",
      spec.mode,
      "--seed",
      String(spec.seed),
      // Always explicit: the CLI's default (auto) would regroup a spec that leaves it out.
      "--k-per-map",
      String(spec.kPerMap ?? 1),
      "--job-id",
      jobId,
      "--wait",
    ],
    timeoutMs,
  );
}

export interface JobCountsView {
  tasks: number;
  maps: number;
  reduces: number;
  mapsDone: number;
  reducesDone: number;
  done: number;
  running: number;
  liveAttempts: number;
  resets: number;
  verifiedOutputs: number;
}

export interface JobViewLite {
  jobId: string;
  state: string;
  spec: MatmulJobSpec;
  outputDigest: string | null;
  verified: boolean | null;
  failure: { taskId: string | null; reason: string } | null;
  counts: JobCountsView;
}

/** GET /v1/jobs/:id from the first running peer that answers (stale read: any peer's view). */
export async function getJob(cluster: E2eCluster, jobId: string): Promise<JobViewLite | undefined> {
  for (const p of cluster.info.peers) {
    if (!cluster.isRunning(`peer-${p.id}`)) continue;
    try {
      const res = await apiFetch()(`${p.http}/v1/jobs/${jobId}?consistency=stale`, {
        signal: AbortSignal.timeout(3_000),
        headers: apiHeaders(),
      });
      if (res.status === 404) return undefined;
      if (res.ok) return (await res.json()) as JobViewLite;
    } catch {
      // try the next peer
    }
  }
  return undefined;
}

/** Polls the job until `pred` holds; the error names what was awaited and the last view. */
export async function waitJob(
  cluster: E2eCluster,
  jobId: string,
  what: string,
  pred: (v: JobViewLite) => boolean,
  timeoutMs = 120_000,
): Promise<JobViewLite> {
  const deadline = Date.now() + timeoutMs;
  let last: JobViewLite | undefined;
  for (;;) {
    last = (await getJob(cluster, jobId)) ?? last;
    if (last && pred(last)) return last;
    if (Date.now() > deadline) {
      throw new E2eError(
        `timed out after ${timeoutMs} ms waiting for job ${jobId}: ${what}; last view ${JSON.stringify(
          last ? { state: last.state, counts: last.counts, failure: last.failure } : null,
        )}`,
      );
    }
    await sleep(150);
  }
}

/** POST /v1/jobs/:id/<action> through the CLI (`tessera job pause|resume|cancel ID`). */
export async function jobControl(
  cluster: E2eCluster,
  jobId: string,
  action: "pause" | "resume" | "cancel",
): Promise<unknown> {
  const body = await runCli(cluster, ["job", action, jobId]).result;
  if ((body as { error?: unknown }).error) {
    throw new E2eError(`tessera job ${action} ${jobId}: ${JSON.stringify(body)}`);
  }
  return body;
}

/**
 * The digest an undisturbed run must produce: each output tile computed by the reference GEMM
 * (exact mode: bit-for-bit what any correct run stores), encoded as the agents encode it, its
 * CRC32C, folded with @tessera/matrix's jobOutputDigest. Small n only (O(n³) in JS).
 */
export function referenceDigest(spec: MatmulJobSpec): string {
  if (spec.n > 1024)
    throw new E2eError(`referenceDigest: n=${spec.n} is too large for a reference GEMM`);
  return jobOutputDigest(spec, (i, j) =>
    crc32cHex(
      encodeTile(referenceOutputTile(spec, i, j), {
        rows: spec.tile,
        cols: spec.tile,
        mode: tileModeOf(spec.mode),
      }),
    ),
  );
}

/** A committed event, with the fields the suites look at (the full event is kept in `event`). */
export interface JobEvent {
  readonly index: number;
  /** Leader-stamped time of the batch (ms since the epoch). */
  readonly at: number;
  readonly jobId: string;
  readonly category: string;
  readonly type: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly nodeId?: string;
  readonly speculative?: boolean;
  readonly reason?: string;
  /** task.started by an attempt-start-batch: the batch's id. */
  readonly batch?: string;
  readonly event: ManifestEvent;
}

/**
 * Every committed event of `jobId` (or of every job the predicate accepts) in TESSERA_EVENTS, in
 * log order (read after the fact from the stream).
 */
export async function jobEvents(
  nats: NatsAt,
  jobId: string | ((jobId: string) => boolean),
): Promise<JobEvent[]> {
  // Right after a NATS cluster member dies, JetStream API requests time out until its meta
  // leader is re-elected: retry the whole read for a while.
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await readJobEvents(nats, jobId);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

async function readJobEvents(
  nats: NatsAt,
  jobId: string | ((jobId: string) => boolean),
): Promise<JobEvent[]> {
  const wanted = typeof jobId === "string" ? (id: string) => id === jobId : jobId;
  const nc = await connectTo(nats, "tessera-e2e-events");
  const out: JobEvent[] = [];
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(EVENTS_STREAM.name);
    const jsm = await js.jetstreamManager();
    const last = (await jsm.streams.info(EVENTS_STREAM.name)).state.last_seq;
    for (;;) {
      const m = await nextWithDeadline(consumer, { expiresMs: 5_000 });
      if (!m) break;
      const batch = decodeManifestEventBatch(m.data);
      for (const e of batch.events) {
        const f = e as Partial<Record<keyof JobEvent | "jobId", unknown>>;
        if (typeof f.jobId !== "string" || !wanted(f.jobId)) continue;
        out.push({
          index: batch.index,
          at: batch.at,
          jobId: f.jobId,
          category: e.category,
          type: e.type,
          ...(typeof f.taskId === "string" ? { taskId: f.taskId } : {}),
          ...(typeof f.attempt === "number" ? { attempt: f.attempt } : {}),
          ...(typeof f.nodeId === "string" ? { nodeId: f.nodeId } : {}),
          ...(typeof f.speculative === "boolean" ? { speculative: f.speculative } : {}),
          ...(typeof f.reason === "string" ? { reason: f.reason } : {}),
          ...(typeof f.batch === "string" ? { batch: f.batch } : {}),
          event: e,
        });
      }
      if (m.seq >= last) break;
    }
  } finally {
    await nc.close();
  }
  return out;
}

/** NATS urls of the cluster (a comma list when it runs on a NATS cluster). */
export function natsUrls(cluster: E2eCluster): string[] {
  return cluster.info.nats.split(",");
}

/** The cluster's NATS with the credentials and TLS its processes use (none for a plain NATS). */
export function natsTarget(cluster: E2eCluster): NatsTarget {
  return { servers: natsUrls(cluster), security: natsSecurityFromEnv(cluster.processEnv) };
}

/** Resolves once a heartbeat of `nodeId` lists an attempt of `taskId` of `jobId` as held. */
export async function whenListed(
  cluster: E2eCluster,
  nodeId: string,
  jobId: string,
  taskId: string,
  timeoutMs = 60_000,
): Promise<void> {
  const nc = await connectTo(natsTarget(cluster), "e2e-heartbeat-watch");
  try {
    const sub = nc.subscribe(heartbeatSubject(nodeId), { timeout: timeoutMs });
    for await (const msg of sub) {
      const hb = decodeHeartbeat(msg.data);
      if (hb.running.some((r) => r.jobId === jobId && r.taskId === taskId)) return;
    }
    throw new E2eError(`${nodeId}'s heartbeats never listed ${jobId}/${taskId}`);
  } finally {
    await nc.close();
  }
}
