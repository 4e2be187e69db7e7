// The storage-manager process: follows TESSERA_EVENTS from the start of the stream (an ordered
// consumer, so state is rebuilt from committed events after every restart), checks each reported
// output, verifies finished jobs, cleans partials, and serves health, metrics and an outputs API.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import {
  apiScheme,
  type BearerVerdict,
  bearerRefusal,
  bearerVerifier,
  certificateExpiries,
  type FlagFailure,
  missingTileBufferMalloc,
  OPEN_HTTP_PATHS,
  readApiTlsPair,
  readApiToken,
} from "@tessera/config";
import {
  closeGracefully,
  connect,
  fetchWithDeadline,
  type JetStreamManager,
  jetstream,
  jetstreamManagerWhenReady,
  type NatsConnection,
  provisionStreams,
} from "@tessera/messaging";
import {
  type Logger,
  reportCertificateExpiry,
  reportTileBufferMalloc,
} from "@tessera/observability";
import { CMD_STREAM, decodeManifestEventBatch, EVENTS_STREAM } from "@tessera/protocol";
import { createObjectStore, type ObjectStore, storageConfigFromSpec } from "@tessera/storage";
import type { StorageManagerConfig } from "./config.js";
import { StorageManagerError, StorageManagerErrorCode } from "./errors.js";
import { createStorageManagerMetrics, type StorageManagerMetrics } from "./metrics.js";
import { CommandProposer } from "./proposer.js";
import {
  checkOutput,
  deleteJobObjects,
  deletePartials,
  TransientStorageError,
  verifyJobOutputs,
} from "./storage-ops.js";
import {
  type Action,
  decideVerdict,
  type EventBatchLike,
  JobTracker,
  type OutputRecord,
  type Proposal,
  type TrackedJob,
} from "./tracker.js";
import { VerifiedBatch } from "./verified-batch.js";

const TICK_MS = 1_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** JSON view of a tracked job for the HTTP API and `tessera` commands. */
export function jobSummary(job: TrackedJob) {
  let checked = 0;
  let bad = 0;
  for (const r of job.outputs.values()) {
    if (r.status === "ok") checked++;
    if (r.status === "bad") bad++;
  }
  return {
    jobId: job.jobId,
    spec: job.spec,
    state: job.state,
    maps: job.maps,
    reduces: job.reduces,
    outputsReported: job.outputs.size,
    outputsChecked: checked,
    outputsBad: bad,
    verify: job.verify,
    verdict: job.verdict ?? null,
    digest: job.digest ?? job.verdict?.digest ?? null,
    resets: job.resets,
    partials: job.partials,
  };
}

function outputView(r: OutputRecord) {
  return {
    taskId: r.taskId,
    kind: r.kind,
    attempt: r.attempt,
    key: r.key,
    uri: r.output.uri,
    bytes: r.output.bytes,
    checksum: r.output.checksum,
    status: r.status,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
  };
}

/** Delay of the second partial sweep after a job's clean-up (longer than a running tile task). */
const LATE_SWEEP_MS = 5_000;
/** How long passed checks gather before they are proposed as one outputs-verified command. */
const VERIFIED_LINGER_MS = 50;
/** Outputs per outputs-verified command (well inside the 64 KiB command limit). */
const VERIFIED_PER_COMMAND = 256;

export class StorageManager {
  readonly tracker: JobTracker;
  readonly metrics: StorageManagerMetrics;
  private caughtUp = false;
  private stopping = false;
  private readonly verified = new VerifiedBatch(VERIFIED_PER_COMMAND);
  private verifiedTimer: NodeJS.Timeout | undefined;
  private followLoop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checksRunning = 0;
  private readonly checkQueue: OutputRecord[] = [];
  private verifying: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly lateSweeps = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly config: StorageManagerConfig,
    private readonly log: Logger,
    private readonly nc: NatsConnection,
    private readonly store: ObjectStore,
    private readonly proposer: CommandProposer,
    private readonly server: Server,
    /** Checks a request's Authorization header; every request passes without a token. */
    private readonly authorize: (authorization: string | undefined) => BearerVerdict,
  ) {
    this.tracker = new JobTracker({
      keepPartials: config.keepPartials,
      partialsGraceMs: config.partialsGraceMs,
      maxResetsPerJob: config.maxResetsPerJob,
    });
    this.metrics = createStorageManagerMetrics(config.nodeId);
  }

  static async start(
    config: StorageManagerConfig,
    log: Logger,
    env: Readonly<Record<string, string | undefined>>,
    options: {
      /** Command types the manifest accepts (default: the protocol's; tests pin them). */
      readonly knownCommandTypes?: readonly string[];
    } = {},
  ): Promise<StorageManager> {
    // The HTTP API's files are checked before anything connects: a bad one fails the start
    // naming its flag.
    const flagFailure: FlagFailure = (flag, reason, cause) => {
      throw new StorageManagerError(StorageManagerErrorCode.Config, `--${flag}: ${reason}`, {
        cause,
      });
    };
    const tls = config.apiTls ? readApiTlsPair(config.apiTls, flagFailure) : undefined;
    const certificates = certificateExpiries(config, flagFailure);
    const authorize =
      config.apiTokenFile === undefined
        ? () => "ok" as const
        : bearerVerifier(readApiToken(config.apiTokenFile, flagFailure));
    const store = createObjectStore(storageConfigFromSpec(config.storage, env));
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: config.natsUrl.split(","),
        name: `storage-manager:${config.nodeId}`,
        logger: log,
        security: config.natsSecurity,
      });
    } catch (err) {
      await store.close();
      throw new StorageManagerError(StorageManagerErrorCode.Start, (err as Error).message, {
        cause: err,
      });
    }
    const jsm = await jetstreamManagerWhenReady(nc);
    await provisionStreams(jsm, {
      replicas: config.replicas,
      streams: [CMD_STREAM, EVENTS_STREAM],
    });
    const js = jetstream(nc);
    const proposer = new CommandProposer(js, config.nodeId, log, options.knownCommandTypes, nc);
    const server = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createServer();
    const manager = new StorageManager(config, log, nc, store, proposer, server, authorize);
    reportCertificateExpiry(manager.metrics.registry, log, certificates);
    reportTileBufferMalloc(log, missingTileBufferMalloc(env));
    server.on("request", (req, res) => {
      manager.handleHttp(req, res).catch((err: unknown) => {
        log.error({ err }, "http handler failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: (err as Error).message } }));
      });
    });
    const [host, port] = splitHostPort(config.http);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) =>
        reject(
          new StorageManagerError(
            StorageManagerErrorCode.Start,
            `--http ${config.http}: cannot listen: ${err.message}`,
            { cause: err },
          ),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    const info = await jsm.streams.info(EVENTS_STREAM.name);
    const target = info.state.last_seq;
    manager.followLoop = manager.follow(js, jsm, target);
    manager.timer = setInterval(() => manager.pump(), TICK_MS);
    log.info(
      {
        http: manager.httpAddress(),
        storage: store.backend,
        replayTo: target,
        clientId: proposer.clientId,
        supported: {
          "job-verified": proposer.supports("job-verified"),
          "task-reset": proposer.supports("task-reset"),
          "output-verified": proposer.supports("output-verified"),
        },
      },
      "storage-manager started",
    );
    return manager;
  }

  /** `http(s)://host:port` the HTTP API listens on. */
  httpAddress(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `${apiScheme(this.config.apiTls)}://${host}:${a.port}`;
  }

  get ready(): boolean {
    return this.caughtUp && !this.nc.isClosed() && !this.stopping;
  }

  /**
   * Reads TESSERA_EVENTS from the first message, in order. An ephemeral pull consumer with
   * explicit acks (nats-server 2.9 has no ack-none pull consumers); when it breaks (server
   * restart, consumer gone) a new one resumes at the next stream sequence, so nothing is skipped
   * and repeats are dropped by the tracker's index check.
   *
   * Order is enforced here, not assumed: after a NATS server dies mid-pull, a message can be
   * redelivered late (after its ack wait), behind later ones. A message beyond the next expected
   * sequence therefore restarts the consumer at that sequence instead of being applied; only a
   * fresh consumer's first message may skip ahead (a hole the stream really has).
   */
  private async follow(
    js: ReturnType<typeof jetstream>,
    jsm: JetStreamManager,
    target: number,
  ): Promise<void> {
    if (target === 0) this.markCaughtUp();
    let nextSeq = 1;
    let failures = 0;
    while (!this.stopping) {
      let name: string | undefined;
      try {
        const info = await jsm.consumers.add(EVENTS_STREAM.name, {
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: nextSeq,
          inactive_threshold: nanos(60_000),
          mem_storage: true,
        });
        name = info.name;
        const consumer = await js.consumers.get(EVENTS_STREAM.name, name);
        failures = 0;
        let fresh = true;
        while (!this.stopping) {
          const batch = await fetchWithDeadline(consumer, { maxMessages: 256, expiresMs: 1_000 });
          for await (const m of batch) {
            if (m.seq < nextSeq) {
              m.ack(); // a late redelivery of something already applied
              continue;
            }
            if (m.seq > nextSeq && !fresh) {
              throw new EventGapError(nextSeq, m.seq);
            }
            fresh = false;
            this.applyMessage(m.seq, m.subject, m.data, target);
            nextSeq = m.seq + 1;
            m.ack();
            if (this.stopping) break;
          }
        }
      } catch (err) {
        if (this.stopping || this.nc.isClosed()) break;
        if (name) await jsm.consumers.delete(EVENTS_STREAM.name, name).catch(() => undefined);
        const gap = err instanceof EventGapError;
        if (!gap) failures++;
        this.log.warn(
          { err: (err as Error).message, nextSeq, failures },
          gap
            ? "event delivered out of order; re-reading from the gap"
            : "event consumer failed; recreating it",
        );
        if (!gap) await sleep(Math.min(5_000, 200 * 2 ** Math.min(failures, 5)));
      }
    }
  }

  private applyMessage(seq: number, subject: string, data: Uint8Array, target: number): void {
    let batch: EventBatchLike | undefined;
    try {
      batch = decodeManifestEventBatch(data) as unknown as EventBatchLike;
    } catch (err) {
      this.metrics.badEventBatches.inc();
      this.log.warn(
        { seq, subject, reason: (err as Error).message },
        "skipping event batch that does not decode",
      );
    }
    if (batch) {
      this.tracker.apply(batch);
      this.metrics.eventBatches.inc();
      this.metrics.appliedIndex.set(this.tracker.appliedIndex);
    }
    if (!this.caughtUp && seq >= target) this.markCaughtUp();
    if (this.caughtUp) this.pump();
  }

  private markCaughtUp(): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    this.metrics.caughtUp.set(1);
    this.log.info(
      { index: this.tracker.appliedIndex, jobs: this.tracker.allJobs().length },
      "replayed TESSERA_EVENTS; acting on unfinished work",
    );
    this.pump();
  }

  /** Hands out whatever work the tracker says is owed now. */
  pump(): void {
    if (!this.caughtUp || this.stopping) return;
    for (const action of this.tracker.nextActions(Date.now())) this.dispatch(action);
    this.drainChecks();
  }

  private dispatch(action: Action): void {
    switch (action.type) {
      case "check-output":
        this.checkQueue.push(action.record);
        return;
      case "verify-job":
        // One verification at a time: it is CPU-bound and the event loop must keep serving.
        this.verifying = this.verifying.then(() => this.verify(action));
        this.track(this.verifying);
        return;
      case "clean-partials":
        this.track(this.clean(action.jobId));
        return;
      case "delete-job":
        this.track(this.deleteJob(action.jobId));
        return;
    }
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private drainChecks(): void {
    while (this.checksRunning < this.config.checkConcurrency && this.checkQueue.length > 0) {
      const record = this.checkQueue.shift()!;
      this.checksRunning++;
      const p = this.check(record).finally(() => {
        this.checksRunning--;
        this.drainChecks();
      });
      this.track(p);
    }
  }

  private async check(record: OutputRecord): Promise<void> {
    const job = this.tracker.job(record.jobId);
    if (!job) return;
    const started = performance.now();
    let proposal: Proposal | undefined;
    try {
      const result = await checkOutput(
        this.store,
        record,
        job.spec.tile,
        this.config.checkMode === "full",
      );
      this.metrics.checkSeconds.observe((performance.now() - started) / 1000);
      this.metrics.outputsChecked.inc({ kind: record.kind, result: result.ok ? "ok" : "bad" });
      if (!result.ok) {
        this.log.warn(
          {
            jobId: record.jobId,
            taskId: record.taskId,
            attempt: record.attempt,
            reason: result.reason,
          },
          "output failed its storage check",
        );
      }
      proposal = this.tracker.outputChecked(record, result);
    } catch (err) {
      this.metrics.outputsChecked.inc({ kind: record.kind, result: "retry" });
      this.log.warn(
        { jobId: record.jobId, taskId: record.taskId, err: (err as Error).message },
        "output check could not run; will retry",
      );
      this.tracker.checkAbandoned(record);
      return;
    }
    if (proposal?.type === "output-verified") {
      // Optional bookkeeping: gathered into outputs-verified commands (verified-batch.ts).
      this.gatherVerified(record);
    } else if (proposal) {
      await this.proposeInOrder(proposal);
    }
    // A reduce checking ok may make the job verifiable now.
    if (record.kind === "reduce") this.pump();
  }

  private async verify(action: Extract<Action, { type: "verify-job" }>): Promise<void> {
    const { jobId, spec } = action;
    const K = spec.n / spec.tile;
    const job = this.tracker.job(jobId);
    if (job?.state !== "active") {
      this.tracker.verifyFailed(jobId);
      return;
    }
    this.log.info({ jobId, n: spec.n, tile: spec.tile, mode: spec.mode }, "verifying job");
    // Let pending I/O (HTTP, NATS pings) run before a CPU-bound stretch.
    await new Promise((r) => setImmediate(r));
    let proposals: Proposal[];
    try {
      const v = await verifyJobOutputs(
        this.store,
        jobId,
        spec,
        action.checksums,
        this.config.verifyRounds,
      );
      this.metrics.verifySeconds.observe(v.seconds);
      proposals = decideVerdict(
        jobId,
        K,
        v.result,
        v.digest,
        job.resets,
        this.config.maxResetsPerJob,
      );
      const verdict = proposals[0];
      const result =
        verdict?.type === "job-verified" ? (verdict.verified ? "verified" : "failed") : "reset";
      this.metrics.jobsVerified.inc({ result });
      this.log.info(
        {
          jobId,
          result,
          digest: v.digest,
          tilesChecked: v.result.tilesChecked,
          failures: v.result.failures.length,
          rounds: v.result.rounds,
          verifySeed: v.result.verifySeed,
          check: v.result.check,
          missProbabilityBound: v.result.missProbabilityBound,
          seconds: Number(v.seconds.toFixed(3)),
        },
        "job verification finished",
      );
    } catch (err) {
      this.metrics.jobsVerified.inc({ result: "retry" });
      this.log.warn(
        { jobId, err: (err as Error).message, transient: err instanceof TransientStorageError },
        "job verification could not run; will retry",
      );
      this.tracker.verifyFailed(jobId);
      return;
    }
    this.tracker.jobVerified(jobId, proposals);
    for (const p of proposals) await this.proposeInOrder(p);
  }

  private async clean(jobId: string): Promise<void> {
    try {
      const deleted = await deletePartials(this.store, jobId);
      this.metrics.partialsDeleted.inc(deleted);
      this.tracker.partialsCleaned(jobId, true);
      this.log.info({ jobId, deleted }, "deleted intermediate partials");
      this.scheduleLateSweep(jobId, "partials", this.metrics.partialsDeleted, () =>
        deletePartials(this.store, jobId),
      );
    } catch (err) {
      this.tracker.partialsCleaned(jobId, false);
      this.log.warn({ jobId, err: (err as Error).message }, "partial clean-up failed; will retry");
    }
  }

  /** A job removed from the manifest: everything it stored goes (outputs and partials). */
  private async deleteJob(jobId: string): Promise<void> {
    try {
      const deleted = await deleteJobObjects(this.store, jobId);
      this.metrics.deletedJobObjects.inc(deleted);
      this.tracker.jobDeleted(jobId, true);
      this.log.info({ jobId, deleted }, "deleted the stored objects of a deleted job");
      this.scheduleLateSweep(jobId, "objects", this.metrics.deletedJobObjects, () =>
        deleteJobObjects(this.store, jobId),
      );
    } catch (err) {
      this.tracker.jobDeleted(jobId, false);
      this.log.warn(
        { jobId, err: (err as Error).message },
        "deleting a job's objects failed; will retry",
      );
    }
  }

  /**
   * Attempts still running when a job finished (a cancelled job's, a speculative loser) write
   * their partials after the first clean-up (or the deletion of a deleted job's objects), and
   * no event announces those writes (the manifest rejects their completions). One more sweep a
   * little later removes them.
   */
  private scheduleLateSweep(
    jobId: string,
    what: "partials" | "objects",
    counter: Pick<StorageManagerMetrics["partialsDeleted"], "inc">,
    sweep: () => Promise<number>,
  ): void {
    const timer = setTimeout(() => {
      this.lateSweeps.delete(timer);
      if (this.stopping) return;
      this.track(
        sweep().then(
          (deleted) => {
            counter.inc(deleted);
            if (deleted > 0) this.log.info({ jobId, deleted }, `deleted late-written ${what}`);
          },
          (err: unknown) =>
            this.log.warn({ jobId, err: (err as Error).message }, `late sweep of ${what} failed`),
        ),
      );
    }, LATE_SWEEP_MS);
    timer.unref();
    this.lateSweeps.add(timer);
  }

  private gatherVerified(record: OutputRecord): void {
    if (!this.proposer.supports("outputs-verified")) return;
    this.verified.add(record.jobId, record.taskId, record.attempt);
    if (this.verified.size >= VERIFIED_PER_COMMAND) void this.flushVerified();
    else this.verifiedTimer ??= setTimeout(() => void this.flushVerified(), VERIFIED_LINGER_MS);
  }

  /** Proposes what verifications are gathered (publish order is session order). */
  private async flushVerified(): Promise<void> {
    clearTimeout(this.verifiedTimer);
    this.verifiedTimer = undefined;
    for (const p of this.verified.take()) await this.propose(p);
  }

  /** A reset or verdict goes after the verifications checked before it, as they happened. */
  private async proposeInOrder(p: Proposal): Promise<void> {
    await this.flushVerified();
    await this.propose(p);
  }

  private async propose(p: Proposal): Promise<void> {
    try {
      if (await this.proposer.propose(p)) this.metrics.proposals.inc({ type: p.type });
    } catch (err) {
      this.log.error({ jobId: p.jobId, command: p.type, err }, "proposal failed");
    }
  }

  private async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET") {
      send(405, { error: { message: `${req.method} is not allowed; this API is read-only` } });
      return;
    }
    const path = url.pathname;
    if (!OPEN_HTTP_PATHS.has(path)) {
      const verdict = this.authorize(req.headers.authorization);
      if (verdict !== "ok") {
        this.metrics.httpUnauthorized.inc({ reason: verdict });
        this.log.debug({ reason: verdict, from: req.socket.remoteAddress, path }, "HTTP 401");
        res.writeHead(401, {
          "content-type": "application/json",
          "www-authenticate": 'Bearer realm="tessera"',
        });
        res.end(JSON.stringify({ error: { message: bearerRefusal(verdict) } }));
        return;
      }
    }
    if (path === "/healthz") return send(200, { ok: true });
    if (path === "/readyz") {
      return send(this.ready ? 200 : 503, {
        ready: this.ready,
        caughtUp: this.caughtUp,
        nats: !this.nc.isClosed(),
        appliedIndex: this.tracker.appliedIndex,
      });
    }
    if (path === "/metrics") {
      res.writeHead(200, { "content-type": this.metrics.registry.contentType });
      res.end(await this.metrics.registry.metrics());
      return;
    }
    if (path === "/v1/jobs") {
      return send(200, {
        appliedIndex: this.tracker.appliedIndex,
        jobs: this.tracker.allJobs().map(jobSummary),
      });
    }
    const m = /^\/v1\/jobs\/([A-Za-z0-9._-]{1,64})(\/outputs)?$/.exec(path);
    if (m) {
      const jobId = m[1]!;
      const job = this.tracker.job(jobId);
      if (m[2]) {
        // Inspect what storage actually holds for the job, next to what the manifest reported.
        const stored: { key: string; bytes: number }[] = [];
        for await (const e of this.store.list(`jobs/${jobId}/C/`)) stored.push(e);
        let partials = 0;
        for await (const _ of this.store.list(`jobs/${jobId}/partials/`)) partials++;
        return send(200, {
          jobId,
          stored,
          partialsStored: partials,
          reported: job
            ? [...job.outputs.values()].filter((r) => r.kind === "reduce").map(outputView)
            : [],
        });
      }
      if (!job)
        return send(404, { error: { message: `job ${JSON.stringify(jobId)} is not known` } });
      return send(200, { ...jobSummary(job), outputs: [...job.outputs.values()].map(outputView) });
    }
    send(404, { error: { message: `no route ${path}` } });
  }

  /** SIGTERM: stop following, finish in-flight checks/verifications, close everything. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.lateSweeps) clearTimeout(t);
    this.lateSweeps.clear();
    if (this.timer) clearInterval(this.timer);
    this.log.debug({ inFlight: this.inFlight.size }, "stopping: waiting for in-flight work");
    await Promise.allSettled([...this.inFlight]);
    await this.flushVerified();
    this.log.debug("stopping: waiting for the event follower");
    await this.followLoop?.catch(() => undefined);
    this.log.debug("stopping: closing http, nats, storage");
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    // A client holding a socket must not keep the process alive: bounded wait, then move on.
    await Promise.race([closed, sleep(2_000)]);
    this.log.debug("stopping: http closed");
    await closeGracefully(this.nc).catch(() => undefined);
    this.log.debug("stopping: nats closed");
    await this.store.close();
    this.log.info("storage-manager stopped");
  }
}

function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(":");
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, "");
  return [host, Number(hostPort.slice(i + 1))];
}

/** An event arrived ahead of the next expected stream sequence (see follow()). */
class EventGapError extends Error {
  constructor(expected: number, got: number) {
    super(`expected TESSERA_EVENTS sequence ${expected}, got ${got}`);
    this.name = "EventGapError";
  }
}
