// The actions behind each `tessera` command. Each returns the object `--json` prints (or
// undefined when it printed itself) and throws CliError on failure.
import { resolve as resolvePath } from "node:path";
import { API_CA_ENV, API_TOKEN_ENV, type NatsSecurity, natsSecurityIsSet } from "@tessera/config";
import type { MatmulJobSpec } from "@tessera/matrix";
import type { JobControlAction } from "@tessera/protocol";
import type { Command } from "commander";
import {
  type ExportFormat,
  hostPortArg,
  httpUrlArg,
  intArg,
  jobIdArg,
  maxAttemptsArg,
  nodeIdArg,
  parseDevUpArgs,
  parseMatmulArgs,
  parseSince,
  peerIdArg,
  taskIdArg,
} from "./args.js";
import {
  apiCa,
  apiToken,
  CliError,
  type ClientOptions,
  ClusterClient,
  parseServers,
} from "./client.js";
import { readClusterStatus } from "./cluster-view.js";
import {
  DevCluster,
  type DevClusterInfo,
  defaultDataDir,
  devClusterEnv,
  pidAlive,
  readDevState,
} from "./dev-cluster.js";
import type { JobStorage } from "./job-storage.js";
import {
  finishedBefore,
  jobBasics,
  jobProgress,
  jobTimes,
  progressLine,
  type SubmitSummary,
  submitSummary,
} from "./job-view.js";
import {
  type ApiTlsFlags,
  type ClusterTlsFlags,
  checkApiTlsFiles,
  type NatsSecurityFlags,
  natsConnectError,
  resolveApiTls,
  resolveClusterTls,
  resolveNatsSecurity,
} from "./security-options.js";
import { type TopFlags, top } from "./top.js";

// Storage backends (AWS/GCS SDKs: ~0.5 s), the protocol schemas, NATS and the services' logging
// are heavy to load: only the commands that need them import them, so `tessera job list` starts
// in a fraction of a second.
async function verifyJobInStorage(
  ...args: Parameters<typeof import("./verify.js").verifyJobInStorage>
): ReturnType<typeof import("./verify.js").verifyJobInStorage> {
  return (await import("./verify.js")).verifyJobInStorage(...args);
}

interface Common {
  server?: string;
  json?: boolean;
  apiTokenFile?: string;
  apiCa?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** --server, else $TESSERA_SERVER, else the running dev cluster's peers, else :8001. */
export function resolveServers(opt: string | undefined, env = process.env): string[] {
  if (opt !== undefined) return parseServers(opt);
  if (env.TESSERA_SERVER) return parseServers(env.TESSERA_SERVER);
  const state = readDevState();
  if (state && state.peers.length > 0) return state.peers.map((p) => p.http);
  return ["http://127.0.0.1:8001"];
}

/**
 * How to reach the API, as the servers are told: the token and the CA of its HTTPS certificate,
 * each from its flag, else its variable, else the running dev cluster's.
 */
function accessFor(opts: Common): ClientOptions {
  const env = (name: string) => process.env[name] || undefined;
  // The dev cluster's state file, read at most once, and only when a setting is not given.
  let devState: ReturnType<typeof readDevState> | null = null;
  const dev = () => {
    if (devState === null) devState = readDevState();
    return devState;
  };
  const token = apiToken(opts.apiTokenFile ?? env(API_TOKEN_ENV) ?? dev()?.apiTokenFile);
  const ca = apiCa(opts.apiCa ?? env(API_CA_ENV) ?? dev()?.apiCaFile);
  return { ...(token !== undefined ? { token } : {}), ...(ca !== undefined ? { ca } : {}) };
}

function clientFor(opts: Common): ClusterClient {
  return new ClusterClient(resolveServers(opts.server), accessFor(opts));
}

function say(opts: Common, line: string): void {
  if (!opts.json) process.stdout.write(`${line}\n`);
}

/** Whether a succeeded job in this manifest means "verified by the storage-manager". */
export async function manifestRecordsVerification(types?: readonly string[]): Promise<boolean> {
  const known = types ?? (await import("@tessera/protocol")).MANIFEST_COMMAND_TYPES;
  return known.includes("job-verified");
}

// ---- dev up ----------------------------------------------------------------------------------

export async function devUp(
  opts: Common & {
    peers?: string;
    agents?: string;
    schedulers?: string;
    storage?: string;
    data?: string;
    nats?: string;
    restart?: boolean;
    secure?: boolean;
    agentEp?: "auto" | "cpu" | "cuda";
  } & NatsSecurityFlags &
    ClusterTlsFlags &
    ApiTlsFlags,
): Promise<undefined> {
  const args = parseDevUpArgs(opts);
  const natsSecurity = resolveNatsSecurity(opts);
  const clusterTls = resolveClusterTls(opts);
  const apiTls = resolveApiTls(opts);
  const apiTokenFile = opts.apiTokenFile ?? (process.env[API_TOKEN_ENV] || undefined);
  const apiCaFile = opts.apiCa ?? (process.env[API_CA_ENV] || undefined);
  if (opts.secure) {
    refuseWithSecure({
      "--nats": args.nats !== undefined,
      "--nats-…": natsSecurityIsSet(natsSecurity),
      "--cluster-tls-…": clusterTls !== undefined,
      "--api-tls-…": apiTls !== undefined,
      "--api-token-file": apiTokenFile !== undefined,
      "--api-ca": apiCaFile !== undefined,
    });
  }
  // Checked now (a bad file is a usage error naming it), then handed on as a path.
  if (apiTokenFile !== undefined) apiToken(apiTokenFile);
  apiCa(apiCaFile);
  if (apiTls) checkApiTlsFiles(apiTls);
  if (natsSecurityIsSet(natsSecurity) && args.nats === undefined) {
    throw new CliError(
      "--nats: is required with NATS credentials or TLS (--nats-… or TESSERA_NATS_…): the nats-server `dev up` starts itself takes neither",
      2,
    );
  }
  const status = (msg: string) => {
    if (!opts.json) process.stderr.write(`tessera dev: ${msg}\n`);
  };
  const log = (fields: object, msg: string) =>
    status("signal" in fields ? `${String(fields.signal)}: ${msg}` : msg);
  // Signals are handled from the first moment: a SIGTERM while peers are still booting must
  // stop what has started, not leave orphans behind.
  const { runUntilSignal } = await import("@tessera/observability");
  const code = await runUntilSignal({
    name: "tessera dev",
    logger: { info: log, warn: log, error: log, fatal: () => undefined },
    start: async () => {
      const cluster = await DevCluster.start({
        ...args,
        natsSecurity,
        ...(clusterTls ? { clusterTls } : {}),
        ...(apiTokenFile !== undefined ? { apiTokenFile } : {}),
        ...(apiTls ? { apiTls } : {}),
        ...(apiCaFile !== undefined ? { apiCaFile } : {}),
        ...(opts.secure ? { secure: true } : {}),
        agentEp: opts.agentEp ?? "auto",
        onStatus: status,
      });
      printDevClusterInfo(cluster.info!, opts.json === true);
      return cluster;
    },
    stop: async (cluster) => {
      status("stopping the cluster");
      await cluster.stop();
    },
  });
  if (code !== 0) throw new CliError("the dev cluster did not stop cleanly (see its logs)");
  return undefined;
}

/** `dev up --secure` makes every secret itself: any security setting given as well is an error. */
function refuseWithSecure(given: Readonly<Record<string, boolean>>): void {
  const flags = Object.keys(given).filter((flag) => given[flag]);
  if (flags.length > 0) {
    throw new CliError(
      `--secure: makes the cluster's own certificates, NATS and API secrets; it does not take ${flags.join(", ")} (flags or their TESSERA_… variables)`,
      2,
    );
  }
}

/** The dev cluster state of `--data DIR` (default: the default data directory). */
function devStateOf(data: string | undefined) {
  const dir = resolvePath(data ?? defaultDataDir());
  return { dir, state: readDevState(dir) };
}

/** `tessera dev env [--data DIR]`: `export` lines (or, with --json, the variables) for a shell. */
export async function devEnv(opts: Common & { data?: string }): Promise<unknown> {
  const { dir, state } = devStateOf(opts.data);
  if (!state) {
    throw new CliError(
      `no dev cluster in ${dir} (no tessera-dev.json); start one with \`tessera dev up${opts.data ? " --data DIR" : ""}\``,
    );
  }
  if (!pidAlive(state.pid)) {
    throw new CliError(`the dev cluster in ${dir} (pid ${state.pid}) is not running`);
  }
  const vars = devClusterEnv(state);
  for (const [name, value] of Object.entries(vars))
    say(opts, `export ${name}=${shellQuote(value)}`);
  return vars;
}

/** A POSIX shell single-quoted word. */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function printDevClusterInfo(info: DevClusterInfo, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(info)}\n`);
    return;
  }
  process.stdout.write(
    [
      `tessera dev cluster is up (data ${info.dataDir}, logs ${info.dataDir}/logs)`,
      `  nats            ${info.nats}`,
      ...info.peers.map(
        (p) => `  peer ${p.id}          http ${p.http}  grpc ${p.grpc}  pid ${p.pid}`,
      ),
      `  scheduler       pid ${info.scheduler.pid}  ${info.scheduler.http}`,
      `  storage-manager pid ${info.storageManager.pid}  ${info.storageManager.http}`,
      ...info.agents.map((a) => `  ${a.id.padEnd(15)} pid ${a.pid}  ${a.http}`),
      ...(info.s3
        ? [
            `  s3 (local)      pid ${info.s3.pid}  ${info.s3.endpoint}  bucket ${info.s3.bucket}  (s3rver, no fsync: for development)`,
          ]
        : []),
      // The other commands find a cluster in the default directory by themselves; any other
      // needs its endpoints in the environment first.
      ...(info.dataDir === resolvePath(defaultDataDir())
        ? []
        : [
            `In another shell, first: eval "$(pnpm --silent tessera dev env --data ${shellQuote(info.dataDir)})"`,
          ]),
      "Try: pnpm tessera job submit matmul --n 1024 --tile 256 --wait   (Ctrl-C stops the cluster)",
      "Watch: pnpm tessera top",
      "",
    ].join("\n"),
  );
}

// ---- jobs --------------------------------------------------------------------------------------

export interface WaitOptions {
  /** Draw the live bar (stderr must be a terminal). */
  readonly bar: boolean;
  /** Storage spec to verify from when the manifest has no verdict of its own. */
  readonly storage?: string | undefined;
  readonly pollMs?: number;
  /** Without a bar: called with a progress line every `logEveryMs` (default 5 s). */
  readonly log?: (line: string) => void;
  readonly logEveryMs?: number;
  /**
   * Time the job by the manifest's submittedAt → finishedAt (the leader's clock) instead of from
   * `started` to the moment it ends here: for a job submitted earlier or by someone else.
   */
  readonly manifestTimes?: boolean;
}

/** Polls the job until it is terminal, drawing the progress bar; returns the summary. */
export async function waitForJob(
  client: ClusterClient,
  jobId: string,
  started: number,
  o: WaitOptions,
): Promise<SubmitSummary> {
  let view = await client.get(`/v1/jobs/${jobId}`);
  let p = jobProgress(view);
  const from = (o.manifestTimes ? jobTimes(view).submittedAt : null) ?? started;
  let lastLen = 0;
  const draw = (final: boolean) => {
    if (!o.bar) return;
    const line = progressLine(p, (Date.now() - from) / 1000);
    process.stderr.write(`\r${line}${" ".repeat(Math.max(0, lastLen - line.length))}`);
    lastLen = line.length;
    if (final) process.stderr.write("\n");
  };
  let lastLog = Date.now();
  while (!p.terminal) {
    draw(false);
    if (!o.bar && o.log && Date.now() - lastLog >= (o.logEveryMs ?? 5_000)) {
      lastLog = Date.now();
      o.log(progressLine(p, (Date.now() - from) / 1000));
    }
    await sleep(o.pollMs ?? 250);
    view = await client.get(`/v1/jobs/${jobId}`);
    p = jobProgress(view);
  }
  draw(true);
  const end = (o.manifestTimes ? jobTimes(view).finishedAt : null) ?? Date.now();
  const wall = (end - from) / 1000;
  if (p.state !== "succeeded") {
    return submitSummary(p, wall, false, p.outputDigest, p.failure ?? `job ${p.state}`);
  }
  if (p.verified !== null) return submitSummary(p, wall, p.verified, p.outputDigest);
  // An empty job stored nothing: succeeded with nothing to verify (verified stays null).
  if (p.mode === "empty") return submitSummary(p, wall, null, p.outputDigest);
  if (await manifestRecordsVerification()) {
    // The manifest marks a job succeeded only after the storage-manager's job-verified(true).
    return submitSummary(p, wall, true, p.outputDigest);
  }
  // No verdict in the manifest: verify here, from storage.
  const { jobStorage } = await import("./job-storage.js");
  const storage = await jobStorage(client, jobId, o.storage);
  if (!storage) return submitSummary(p, wall, null, p.outputDigest, "no verdict: pass --storage");
  const spec = (view as { spec?: MatmulJobSpec }).spec;
  if (!spec) return submitSummary(p, wall, null, p.outputDigest, "the job view has no spec");
  const report = await verifyJobInStorage(jobId, spec, storage, p.outputDigest);
  return submitSummary(
    p,
    wall,
    report.verified,
    report.digest ?? p.outputDigest,
    report.verified ? undefined : (report.failures[0]?.reason ?? "digest mismatch"),
  );
}

export async function jobSubmit(
  kind: string,
  opts: Common & {
    n?: string;
    tile?: string;
    mode?: string;
    seed?: string;
    kPerMap?: string;
    jobId?: string;
    maxAttempts?: string;
    wait?: boolean;
    storage?: string;
  },
): Promise<unknown> {
  if (kind !== "matmul")
    throw new CliError(`job kind ${JSON.stringify(kind)}: only matmul exists`, 2);
  const spec = parseMatmulArgs(opts);
  const jobId = opts.jobId === undefined ? undefined : jobIdArg(opts.jobId);
  const maxAttempts = maxAttemptsArg(opts.maxAttempts);
  const client = clientFor(opts);
  const started = Date.now();
  const reply = (await client.post("/v1/jobs", {
    ...(jobId ? { jobId } : {}),
    spec,
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
  })) as {
    result?: { jobId?: string; state?: string };
    index?: number;
  };
  const id = reply.result?.jobId;
  if (typeof id !== "string") throw new CliError("the server accepted the job but named no jobId");
  // The grouping is shown because `auto` chose it: the user may not have named one.
  const grouping = ` k-per-map=${spec.kPerMap ?? 1}`;
  say(
    opts,
    `submitted ${id} (n=${spec.n} tile=${spec.tile} ${spec.mode} seed=${spec.seed}${grouping})`,
  );
  if (!opts.wait) {
    return { jobId: id, status: reply.result?.state ?? "queued", index: reply.index ?? null, spec };
  }
  return reportSummary(
    await waitForJob(client, id, started, {
      bar: process.stderr.isTTY === true,
      storage: opts.storage,
    }),
    opts,
  );
}

/** Prints a waited-for job's summary (unless --json); exit 1 unless it succeeded verified. */
function reportSummary(summary: SubmitSummary, opts: Common): SubmitSummary {
  if (!opts.json) {
    process.stdout.write(
      [
        `job ${summary.jobId}: ${summary.status}`,
        `  verified    ${summary.verified}${summary.verified === null && summary.status === "succeeded" ? " (nothing stored to verify)" : ""}`,
        `  digest      ${summary.digest}`,
        `  wall        ${summary.wallSeconds.toFixed(2)} s   ${summary.gflops} GFLOP/s`,
        `  tasks       ${summary.tasks} (${summary.attempts} attempts), ${summary.bytesMoved} bytes moved`,
        ...(summary.reason ? [`  reason      ${summary.reason}`] : []),
        "",
      ].join("\n"),
    );
  }
  if (summary.status !== "succeeded" || summary.verified === false) process.exitCode = 1;
  return summary;
}

export async function jobList(opts: Common & { finished?: string }): Promise<unknown> {
  // --finished N: the unfinished jobs and only the N latest to finish (filtered by the server).
  const finished =
    opts.finished === undefined
      ? ""
      : `?finished=${intArg("--finished", opts.finished, 0, 100_000)}`;
  const body = (await clientFor(opts).get(`/v1/jobs${finished}`)) as { jobs?: unknown[] };
  const jobs = (body.jobs ?? []).map((j) => {
    const p = jobProgress(j);
    const { submittedAt, finishedAt } = jobTimes(j);
    return { ...jobBasics(p), submittedAt, finishedAt };
  });
  for (const j of jobs) {
    const grouping = j.kPerMap === 1 ? "" : ` k-per-map=${j.kPerMap}`;
    // When it finished: what `job delete --finished-before` goes by.
    const finished =
      j.finishedAt === null ? "" : `\tfinished ${new Date(j.finishedAt).toISOString()}`;
    say(
      opts,
      `${j.jobId}\t${j.state}\tn=${j.n} tile=${j.tile}${grouping}\t${j.done}/${j.tasks}${finished}`,
    );
  }
  return { jobs };
}

export async function jobStatus(
  id: string,
  opts: Common & { task?: string; live?: boolean; wait?: boolean; storage?: string },
): Promise<unknown> {
  if (opts.task !== undefined && opts.live) {
    throw new CliError("--task and --live: give one of them", 2);
  }
  if (opts.wait) {
    if (opts.task !== undefined || opts.live) {
      throw new CliError("--wait: waits for the whole job; not with --task or --live", 2);
    }
    // Attach to a job submitted earlier or elsewhere: the same bar and summary as submit --wait.
    return reportSummary(
      await waitForJob(clientFor(opts), jobIdArg(id), Date.now(), {
        bar: process.stderr.isTTY === true,
        storage: opts.storage,
        manifestTimes: true,
      }),
      opts,
    );
  }
  if (opts.task !== undefined) return taskStatus(jobIdArg(id), taskIdArg(opts.task), opts);
  if (opts.live) return liveAttempts(jobIdArg(id), opts);
  const view = await clientFor(opts).get(`/v1/jobs/${jobIdArg(id)}`);
  const p = jobProgress(view);
  say(
    opts,
    `${p.jobId}: ${p.state}  ${p.done}/${p.tasks} tasks (maps ${p.mapsDone}/${p.maps}, reduces ${p.reducesDone}/${p.reduces})`,
  );
  if (p.outputDigest) say(opts, `  digest ${p.outputDigest}`);
  if (p.failure) say(opts, `  failure ${p.failure}`);
  return view;
}

/**
 * A job's profile (job-profile.ts): its times from the manifest and every agent's shipped
 * completion timings for it from TESSERA_LOGS. Also used by the benchmarks.
 */
export async function loadJobProfile(
  client: ClusterClient,
  nats: readonly string[],
  jobId: string,
  security: NatsSecurity = {},
  options: { readonly timeline?: boolean } = {},
): Promise<import("./job-profile.js").JobProfile> {
  const { COMPLETION_LINES_GREP, itemTimingsOf, profileJob } = await import("./job-profile.js");
  const { searchLogs } = await import("./logs.js");
  const view = (await client.get(`/v1/jobs/${jobId}`)) as Record<string, unknown>;
  const times = jobTimes(view);
  const submittedAt = times.submittedAt ?? Date.now();
  const result = await searchLogs(
    nats,
    {
      service: "agent",
      minLevel: 30,
      jobId,
      grep: COMPLETION_LINES_GREP,
      // A minute of slack: the agents' clocks against the leader's.
      since: submittedAt - 60_000,
      limit: 10_000_000,
      follow: false,
    },
    undefined,
    undefined,
    security,
  );
  return profileJob(
    jobId,
    {
      state: typeof view.state === "string" ? view.state : "unknown",
      tasks: jobProgress(view).tasks,
      ...times,
      submittedAt,
    },
    result.lines.flatMap((line) => itemTimingsOf(line)),
    Date.now(),
    options,
  );
}

/** Where the job's time went and what bounded it (bottleneck detection). */
export async function jobProfile(
  id: string,
  opts: Common & { nats?: string; timeline?: boolean } & NatsSecurityFlags,
): Promise<unknown> {
  const profile = await loadJobProfile(
    clientFor(opts),
    resolveNats(opts.nats),
    jobIdArg(id),
    natsSecurityFor(opts),
    { timeline: opts.timeline === true },
  );
  const { formatProfile } = await import("./job-profile.js");
  for (const line of formatProfile(profile)) say(opts, line);
  return profile;
}

interface LiveAttemptLine {
  taskId: string;
  attempt: number;
  nodeId: string | null;
  startedAt: number;
  speculative: boolean;
}

function attemptLine(a: LiveAttemptLine, withTask: boolean): string {
  const age = ((Date.now() - a.startedAt) / 1000).toFixed(1);
  const what = `${withTask ? `${a.taskId} ` : ""}attempt ${a.attempt}`;
  // Attempts go to a pool's shared consumer: the manifest binds the node at claim or completion.
  const node = a.nodeId ? `on ${a.nodeId}` : "node not bound yet";
  return `  ${what}${a.speculative ? " (speculative)" : ""}, ${node}, running ${age}s`;
}

/** A job's live attempts, longest-running first (`job status --live`): what runs now, how long. */
async function liveAttempts(jobId: string, opts: Common): Promise<unknown> {
  const body = (await clientFor(opts).get(`/v1/jobs/${jobId}/attempts`)) as {
    attempts: LiveAttemptLine[];
  };
  const attempts = [...body.attempts].sort((a, b) => a.startedAt - b.startedAt);
  say(opts, `${jobId}: ${attempts.length} live attempt${attempts.length === 1 ? "" : "s"}`);
  for (const a of attempts) say(opts, attemptLine(a, true));
  return { ...body, jobId, attempts };
}

interface TaskStatusView {
  taskId: string;
  state: string;
  lastAttempt: number;
  retries: number;
  failures: number;
  resets: number;
  live: LiveAttemptLine[];
  output: {
    uri: string;
    checksum: string;
    bytes: number;
    attempt: number;
    verified: boolean;
  } | null;
}

/** One task: state, attempts, where its live attempts run, its output (`job status --task`). */
async function taskStatus(jobId: string, taskId: string, opts: Common): Promise<unknown> {
  const t = (await clientFor(opts).get(`/v1/jobs/${jobId}/tasks/${taskId}`)) as TaskStatusView;
  say(
    opts,
    `${jobId} ${t.taskId}: ${t.state}  attempts ${t.lastAttempt} (retries ${t.retries}, failures ${t.failures}, resets ${t.resets})`,
  );
  for (const a of t.live) say(opts, attemptLine(a, false));
  if (t.output) {
    const o = t.output;
    say(
      opts,
      `  output ${o.uri}  crc32c ${o.checksum}  ${o.bytes} bytes  attempt ${o.attempt}${o.verified ? "  verified" : ""}`,
    );
  }
  return t;
}

export async function jobControl(
  action: JobControlAction,
  id: string,
  opts: Common,
  _cmd?: Command,
): Promise<unknown> {
  const body = (await clientFor(opts).post(`/v1/jobs/${jobIdArg(id)}/${action}`)) as {
    result?: { state?: string; changed?: boolean };
  };
  if (action === "delete") {
    say(
      opts,
      body.result?.changed === false
        ? `${id}: already deleted`
        : `${id}: deleted from the manifest; the storage-manager deletes its stored outputs and partials`,
    );
  } else {
    say(opts, `${id}: ${action} accepted (state ${body.result?.state ?? "?"})`);
  }
  return body;
}

/**
 * `tessera job delete ID`, or `--finished-before AGE`: every job that finished that long ago (or
 * before that ISO time), by the leader's clock; `--dry-run` only names them.
 */
export async function jobDelete(
  id: string | undefined,
  opts: Common & { finishedBefore?: string; dryRun?: boolean },
  cmd?: Command,
): Promise<unknown> {
  if ((id === undefined) === (opts.finishedBefore === undefined)) {
    throw new CliError("job delete: give a job id or --finished-before AGE (one of the two)", 2);
  }
  if (id !== undefined) {
    if (opts.dryRun) throw new CliError("--dry-run: only with --finished-before", 2);
    return jobControl("delete", id, opts, cmd);
  }
  const cutoff = parseSince(opts.finishedBefore as string, Date.now(), "--finished-before");
  const client = clientFor(opts);
  const body = (await client.get("/v1/jobs")) as { jobs?: unknown[] };
  const selected = finishedBefore(body.jobs ?? [], cutoff);
  const deleted: string[] = [];
  const failed: { jobId: string; reason: string }[] = [];
  for (const j of selected) {
    const when = new Date(j.finishedAt).toISOString();
    if (opts.dryRun) {
      say(opts, `${j.jobId}\t${j.state}\tfinished ${when}\t(would delete)`);
      continue;
    }
    try {
      await client.post(`/v1/jobs/${j.jobId}/delete`);
      deleted.push(j.jobId);
      say(opts, `${j.jobId}\t${j.state}\tfinished ${when}\tdeleted`);
    } catch (err) {
      // One refusal (e.g. the cluster lost its leader meanwhile) does not stop the others.
      failed.push({ jobId: j.jobId, reason: (err as Error).message });
      say(opts, `${j.jobId}\tNOT deleted: ${(err as Error).message}`);
    }
  }
  const cut = new Date(cutoff).toISOString();
  say(
    opts,
    opts.dryRun
      ? `${selected.length} finished job(s) finished at or before ${cut} (dry run: none deleted)`
      : `${deleted.length} of ${selected.length} finished job(s) finished at or before ${cut} deleted`,
  );
  if (failed.length > 0) process.exitCode = 1;
  return {
    cutoff: cut,
    dryRun: opts.dryRun === true,
    selected: selected.map((j) => j.jobId),
    deleted,
    failed,
  };
}

// ---- nodes, cluster ----------------------------------------------------------------------------

export async function nodeList(opts: Common): Promise<unknown> {
  const body = (await clientFor(opts).get("/v1/nodes")) as {
    nodes?: {
      nodeId: string;
      state?: string;
      drained?: boolean;
      drainReason?: string | null;
      liveAttempts?: number;
      executionProvider?: string;
      capacity?: { slots?: number };
    }[];
  };
  for (const n of body.nodes ?? []) {
    const slots = n.capacity?.slots;
    // A live node offering no slots is a warm standby (or an agent shutting down).
    const offers =
      slots === undefined ? "" : slots === 0 && n.state === "active" ? "standby" : `slots ${slots}`;
    say(
      opts,
      `${n.nodeId}\t${n.state ?? "?"}${n.drained ? ` (drained${n.drainReason ? `: ${n.drainReason}` : ""})` : ""}\t${n.executionProvider ?? ""}\t${offers}\tlive ${n.liveAttempts ?? 0}`,
    );
  }
  return body;
}

/**
 * Asks one agent over NATS (`tessera.ctl.agent.<id>`) to leave warm standby and pull work; the
 * scheduler does the same on its own when an active node of the pool fails.
 */
export async function nodePromote(
  id: string,
  opts: Common & { nats?: string } & NatsSecurityFlags,
): Promise<unknown> {
  const nodeId = nodeIdArg(id);
  const { connect } = await import("@tessera/messaging");
  const { agentControlSubject, decodeAgentControlReply, encodeAgentControlRequest } = await import(
    "@tessera/protocol"
  );
  const servers = resolveNats(opts.nats);
  const nc = await connect({
    servers,
    name: "tessera-cli-promote",
    connectTimeoutMs: 5_000,
    security: natsSecurityFor(opts),
  }).catch((err: unknown) => {
    throw natsConnectError(err);
  });
  try {
    const msg = await nc
      .request(
        agentControlSubject(nodeId),
        encodeAgentControlRequest({ v: 1, op: "promote", by: "cli" }),
        { timeout: 5_000 },
      )
      .catch((err: unknown) => {
        throw new CliError(
          `no agent ${nodeId} answered on ${servers.join(",")} (${(err as Error).message}); is it running and connected to this NATS?`,
        );
      });
    const reply = decodeAgentControlReply(msg.data);
    if (reply.error) throw new CliError(`${nodeId} refused: ${reply.error}`);
    say(
      opts,
      reply.changed
        ? `${nodeId}: promoted (now ${reply.state})`
        : `${nodeId}: nothing to do (it is ${reply.state})`,
    );
    return reply;
  } finally {
    await nc.close();
  }
}

export async function nodeDrain(
  id: string,
  opts: Common & { undo?: boolean; reason?: string },
): Promise<unknown> {
  if (opts.reason !== undefined && opts.undo) {
    throw new CliError("--reason: only a drain takes a reason (not --undo)");
  }
  if (opts.reason !== undefined && (opts.reason.trim() === "" || opts.reason.length > 1024)) {
    throw new CliError("--reason: must be 1..1024 characters of text");
  }
  const body = await clientFor(opts).command({
    type: "node-drain",
    nodeId: nodeIdArg(id),
    drained: !opts.undo,
    ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
  });
  say(
    opts,
    `${id}: ${opts.undo ? "undrained" : "drained"}${opts.reason ? ` (${opts.reason})` : ""}`,
  );
  return body;
}

interface MemberView {
  id: number;
  voter?: boolean;
}

function membersLine(members: readonly MemberView[] | undefined): string {
  return (members ?? []).map((m) => `${m.id}${m.voter === false ? " (learner)" : ""}`).join(", ");
}

/** `tessera cluster transfer [--to ID]`: hands leadership to a peer (the best caught-up one). */
export async function clusterTransfer(opts: Common & { to?: string }): Promise<unknown> {
  const to = opts.to === undefined ? undefined : peerIdArg("--to", opts.to);
  const body = (await clientFor(opts).post("/admin/transfer", to === undefined ? {} : { to })) as {
    leaderId?: number;
  };
  say(opts, `leadership transferred; the leader is now peer ${body.leaderId ?? "?"}`);
  return body;
}

/**
 * `tessera cluster add-peer ID --grpc HOST:PORT [--http URL]`: adds a peer started with
 * `--join` (as a learner, caught up, then promoted to voter; the call returns once it votes).
 */
export async function clusterAddPeer(
  idArg: string,
  opts: Common & { grpc?: string; http?: string },
): Promise<unknown> {
  const id = peerIdArg("<id>", idArg);
  const grpc = hostPortArg("--grpc", opts.grpc);
  const http = opts.http === undefined ? undefined : httpUrlArg("--http", opts.http);
  const body = (await clientFor(opts).post("/admin/peers", {
    id,
    grpc,
    ...(http ? { http } : {}),
  })) as { members?: MemberView[] };
  say(opts, `peer ${id} added; members ${membersLine(body.members)}`);
  return body;
}

/** `tessera cluster remove-peer ID`: removes a peer from the cluster (a committed conf change). */
export async function clusterRemovePeer(idArg: string, opts: Common): Promise<unknown> {
  const id = peerIdArg("<id>", idArg);
  const body = (await clientFor(opts).delete(`/admin/peers/${id}`)) as { members?: MemberView[] };
  say(opts, `peer ${id} removed; members ${membersLine(body.members)}`);
  return body;
}

export async function clusterStatus(opts: Common): Promise<unknown> {
  const result = await readClusterStatus(clientFor(opts));
  say(
    opts,
    `leader ${result.leader ?? "none"}  term ${result.term}  feature level ${result.featureLevel}`,
  );
  for (const p of result.peers) {
    say(
      opts,
      `  peer ${p.id}  ${p.role.padEnd(9)} commit ${p.commitIndex ?? "?"}  applied ${p.appliedIndex ?? "?"}  level ${p.featureLevel ?? "?"}  ${p.http ?? ""}${p.reachable ? "" : "  (unreachable)"}`,
    );
  }
  // During a rolling upgrade: who keeps the manifest below the level the newest peers support.
  const target = Math.max(...result.peers.map((p) => p.featureLevel ?? 0));
  if (result.featureLevel < target) {
    const holding = result.peers
      .filter((p) => p.featureLevel === null || p.featureLevel < target)
      .map((p) => `${p.id}${p.featureLevel === null ? " (unreachable)" : ""}`);
    say(
      opts,
      holding.length > 0
        ? `feature level ${target} waits for peer(s) ${holding.join(", ")}`
        : `feature level ${target}: every peer supports it; the leader raises it within a second`,
    );
  }
  return result;
}

/** `tessera top`: the live dashboard (top.ts). */
export async function topCommand(opts: Common & TopFlags): Promise<unknown> {
  return top(resolveServers(opts.server), opts, accessFor(opts));
}

// ---- verify, stop ------------------------------------------------------------------------------

/** An empty job's tasks stored nothing: there is no result to verify or export. */
function refuseEmpty(jobId: string, spec: MatmulJobSpec, what: string): void {
  if (spec.mode === "empty") {
    throw new CliError(
      `job ${jobId} has mode "empty": its tasks stored nothing, so there is no result to ${what}`,
    );
  }
}

export async function verify(
  id: string,
  opts: Common & { storage?: string; rounds?: string },
): Promise<unknown> {
  const jobId = jobIdArg(id);
  const rounds = intArg("--rounds", opts.rounds ?? "2", 1, 64);
  const client = clientFor(opts);
  const view = (await client.get(`/v1/jobs/${jobId}`)) as {
    spec?: MatmulJobSpec;
    outputDigest?: string | null;
  };
  if (!view.spec) throw new CliError(`job ${jobId} has no spec in the manifest's answer`);
  refuseEmpty(jobId, view.spec, "verify");
  const storage = await requireJobStorage(client, jobId, opts.storage);
  const report = await verifyJobInStorage(
    jobId,
    view.spec,
    storage,
    view.outputDigest ?? null,
    rounds,
  );
  const how = [`${report.tilesChecked} tiles`, `${report.check ?? "no"} check`];
  how.push(`${report.rounds} rounds`);
  if (report.missProbabilityBound !== null) {
    how.push(`a wrong output passes with p ≤ ${report.missProbabilityBound.toExponential(1)}`);
  }
  how.push(`${report.seconds}s`);
  say(opts, `${jobId}: verified ${report.verified}  (${how.join(", ")})`);
  say(opts, `  storage  ${storage.spec} (from ${storage.from})`);
  say(opts, `  digest   ${report.digest}`);
  if (report.manifestDigest)
    say(
      opts,
      `  manifest ${report.manifestDigest} (${report.digestMatches ? "matches" : "DIFFERS"})`,
    );
  for (const f of report.failures.slice(0, 5)) say(opts, `  C(${f.i},${f.j}): ${f.reason}`);
  if (!report.verified) process.exitCode = 1;
  return { ...report, storageFrom: storage.from };
}

/** jobStorage, or exit 2 saying where it looked. */
async function requireJobStorage(
  client: ClusterClient,
  jobId: string,
  explicit: string | undefined,
): Promise<JobStorage> {
  const { jobStorage } = await import("./job-storage.js");
  const storage = await jobStorage(client, jobId, explicit);
  if (storage) return storage;
  throw new CliError(
    `--storage: no storage known (job ${jobId} has no output tile in the manifest, TESSERA_STORAGE is unset, no dev cluster in ${defaultDataDir()}); pass --storage fs:<dir>`,
    2,
  );
}

/** `tessera job export ID --out FILE`: the verified result C as one .npy (or raw) file. */
export async function jobExport(
  id: string,
  opts: Common & { out?: string; format?: string; force?: boolean; storage?: string },
): Promise<unknown> {
  const jobId = jobIdArg(id);
  if (!opts.out) throw new CliError("--out: required (the file to write, e.g. C.npy)", 2);
  // commander checked --format against EXPORT_FORMATS (main.ts)
  const format = (opts.format ?? "npy") as ExportFormat;
  const client = clientFor(opts);
  const view = (await client.get(`/v1/jobs/${jobId}`)) as {
    state?: string;
    spec?: MatmulJobSpec;
    outputDigest?: string | null;
  };
  if (!view.spec) throw new CliError(`job ${jobId} has no spec in the manifest's answer`);
  refuseEmpty(jobId, view.spec, "export");
  if (view.state !== "succeeded" || !view.outputDigest) {
    throw new CliError(
      `job ${jobId} is ${view.state ?? "in an unknown state"}: only a succeeded (verified) job has a result to export`,
    );
  }
  const storage = await requireJobStorage(client, jobId, opts.storage);
  const { exportJobResult } = await import("./job-export.js");
  const report = await exportJobResult(jobId, view.spec, storage, view.outputDigest, {
    out: resolvePath(opts.out),
    format,
    force: opts.force === true,
  });
  const mib = report.bytes / 2 ** 20;
  say(
    opts,
    `${jobId}: wrote ${report.out} (${report.format}, float32 ${report.shape.join("×")}, ${mib.toFixed(1)} MiB, ${report.tiles} tiles, ${report.seconds}s)`,
  );
  say(opts, `  digest ${report.digest} (matches the manifest)`);
  say(opts, `  storage ${storage.spec} (from ${storage.from})`);
  return { ...report, storageFrom: storage.from };
}

export async function stop(
  opts: Common & { emergency?: boolean; release?: boolean; data?: string },
): Promise<unknown> {
  if (opts.emergency) {
    const body = await clientFor(opts).command({ type: "emergency-stop", engaged: !opts.release });
    say(
      opts,
      opts.release
        ? "emergency stop released"
        : "emergency stop engaged: no new attempts will start",
    );
    return { emergencyStop: !opts.release, reply: body };
  }
  if (opts.release) throw new CliError("--release only makes sense with --emergency", 2);
  const { dir, state } = devStateOf(opts.data);
  if (!state) {
    throw new CliError(
      `no dev cluster is running (no ${dir}/tessera-dev.json); use --emergency for the manifest's emergency stop`,
    );
  }
  try {
    process.kill(state.pid, "SIGTERM");
  } catch {
    throw new CliError(`the dev cluster's process ${state.pid} is not running`);
  }
  for (let i = 0; i < 600; i++) {
    try {
      process.kill(state.pid, 0);
    } catch {
      say(opts, `dev cluster (pid ${state.pid}) stopped`);
      return { stopped: true, pid: state.pid };
    }
    await sleep(100);
  }
  throw new CliError(`the dev cluster (pid ${state.pid}) did not stop within 60 s`);
}

// ---- logs --------------------------------------------------------------------------------------

/** The NATS credential and TLS files: the command's flags, else the environment, else the dev cluster's. */
export function natsSecurityFor(opts: NatsSecurityFlags, env = process.env): NatsSecurity {
  return resolveNatsSecurity(opts, env, readDevState()?.natsSecurity);
}

/** --nats, else $TESSERA_NATS_URL, else the running dev cluster's NATS, else 127.0.0.1:4222. */
export function resolveNats(opt: string | undefined, env = process.env): string[] {
  const v = opt ?? env.TESSERA_NATS_URL ?? readDevState()?.nats ?? "nats://127.0.0.1:4222";
  return v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export async function logs(
  opts: Common & import("./logs.js").LogsFlags & { nats?: string } & NatsSecurityFlags,
): Promise<unknown> {
  const { parseLogsArgs, searchLogs, formatLogLine } = await import("./logs.js");
  const q = parseLogsArgs(opts, Date.now());
  // --follow streams: one line (or one JSON object per line with --json) as each arrives.
  const print = (line: Record<string, unknown>) =>
    process.stdout.write(`${opts.json ? JSON.stringify(line) : formatLogLine(line)}\n`);
  const stopFollowing = new AbortController();
  if (q.follow) {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      process.once(sig, () => stopFollowing.abort());
    }
  }
  const result = await searchLogs(
    resolveNats(opts.nats),
    q,
    q.follow ? print : undefined,
    stopFollowing.signal,
    natsSecurityFor(opts),
  );
  if (q.follow) return undefined;
  for (const line of result.lines) say(opts, formatLogLine(line));
  say(
    opts,
    `-- ${result.lines.length} of ${result.matched} matching lines (${result.scanned} read since ${result.since})`,
  );
  return result;
}
