// The scheduler process: follow committed events, plan, propose, publish.
//
//   TESSERA_EVENTS ──ordered consumer──▶ view (core/view.ts) ──▶ plan (core/planner.ts)
//        ▲                                   ▲ rebuild on start / gap            │
//        │                                   │                                   ▼
//   consensus ◀── attempt-start / expire / fail / task-reset (ManifestClient) ◀──┘
//                       │ committed (reply ok, or the task.started event)
//                       ▼
//   TESSERA_WORK ◀── WorkItemV1, Nats-Msg-Id work:<job>/<task>/<attempt>
//
// Safety with restarts and with two instances (no leader lease): fencing in the manifest
// accepts exactly one attempt-start per (task, attempt number) and at most one speculative
// duplicate, so of two racing schedulers one gets `stale-attempt`/`task-busy` and publishes
// nothing. A work item is published only after its attempt-start committed, under a msg id
// derived from (job, task, attempt): a re-publish (our retry, a restart re-publishing live
// attempts, the other instance) inside the stream's duplicate window is dropped by JetStream.
//
// The batched path (jobs in mode "empty", services/scheduler/README.md): fresh starts of one
// job and pool go out as one attempt-start-batch; its accepted starts as one WorkBatchV1 with
// Nats-Msg-Id work-batch:<batch id>, the id the manifest recorded on each of those attempts, so a
// restart regroups live attempts into the same messages and the same dedup ids.

import { setTimeout as delay } from "node:timers/promises";
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  apiScheme,
  type CertificateExpiry,
  certificateExpiries,
  readApiCa,
  readApiTlsPair,
  readApiToken,
} from "@tessera/config";
import { apiFetcher, type ClusterTls, loadClusterTls } from "@tessera/consensus/client";
import {
  closeGracefully,
  connect,
  jetstream,
  jetstreamManagerWhenReady,
  MessagingError,
  onReconnect,
  provisionStreams,
  publishWithDedup,
} from "@tessera/messaging";
import { type Logger, reportCertificateExpiry, withContext } from "@tessera/observability";
import {
  agentControlSubject,
  buildWorkItem,
  decodeAgentControlReply,
  decodeHeartbeat,
  decodeManifestEventBatch,
  EVENTS_STREAM,
  encodeAgentControlRequest,
  encodeWorkBatch,
  encodeWorkItem,
  type ManifestCommand,
  SUBJECTS,
  WORK_STREAM,
  type WorkItemV1,
  workBatchMsgId,
  workBatchSubject,
  workItemId,
  workItemMsgId,
  workSubject,
} from "@tessera/protocol";
import Fastify, { type FastifyInstance } from "fastify";
import type { SchedulerConfig } from "./config.js";
import { groupIntoBatches, travelsInBatches } from "./core/batching.js";
import { BoundAttempts } from "./core/bound-attempts.js";
import { StorageBreaker } from "./core/breaker.js";
import { DurationStats } from "./core/deadlines.js";
import { FollowWatchdog } from "./core/follow-watchdog.js";
import { type NodeCandidate, placeTask } from "./core/placement.js";
import {
  attemptKey,
  type Decision,
  type PendingStart,
  type PlannerConfig,
  partialsToReset,
  pendingStartSeen,
  plan,
  taskKey,
} from "./core/planner.js";
import { describePrefetch } from "./core/prefetch.js";
import { type StandbyNode, standbyCandidates } from "./core/standby.js";
import {
  applyBatch,
  emptyView,
  isFinished,
  type Observation,
  reduceReady,
  type SchedulerView,
} from "./core/view.js";
import { SchedulerError, SchedulerErrorCode } from "./errors.js";
import {
  type ApiAccess,
  ConsensusManifest,
  type ManifestPort,
  parseStartBatchResult,
  type ReplyJson,
  type StartBatchResult,
} from "./manifest.js";
import { SchedulerMetrics } from "./metrics.js";
import { applyTaskRead, rebuildView } from "./rebuild.js";

type StartDecision = Extract<Decision, { type: "start" }>;

const NATS_CONNECT_TIMEOUT_MS = 20_000;
/** How often the follow of TESSERA_EVENTS is checked for a stall (two checks to declare one). */
const FOLLOW_CHECK_MS = 1_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Rejections that mean "your view of this task is behind": re-read it. */
const STALE_CODES = new Set([
  "stale-attempt",
  "task-busy",
  "task-complete",
  "not-runnable",
  "task-failed",
]);

export interface SchedulerDeps {
  /** Overrides the consensus client (tests). */
  manifest?: ManifestPort;
}

/** A node failure older than this (read from a backlog) does not trigger a promotion. */
const STANDBY_REACT_WITHIN_MS = 30_000;
/** A standby heard from longer ago than this is not asked (heartbeats come every second). */
const STANDBY_SILENCE_MS = 5_000;
const STANDBY_REQUEST_TIMEOUT_MS = 2_000;

export class Scheduler {
  private view: SchedulerView = emptyView();
  /** Commit-to-commit attempt durations (deadlines, stragglers) and agents' run times (prefetch). */
  private readonly durations = new DurationStats();
  private readonly runTimes = new DurationStats();
  private readonly breaker: StorageBreaker;
  /**
   * Replaced (batchMaxTasks 1, armReduces false) if the manifest turns out not to know
   * attempt-start-batch or whenReady.
   */
  private plannerConfig: PlannerConfig;
  /** Tasks ("job/task") with a proposal in flight. */
  private readonly inflight = new Set<string>();
  /** Start decisions the view does not show yet, by attempt key (they hold node capacity). */
  private readonly pendingStarts = new Map<string, PendingStart>();
  /** Attempts we proposed whose work item is not published yet, by attempt key. */
  private readonly awaitingPublish = new Map<string, StartDecision>();
  /**
   * Reduces the manifest holds armed for us (attempt-start whenReady), by task key: the planner
   * skips them until their task.started (its event publishes the item) or their disarming.
   */
  private readonly armed = new Map<string, StartDecision>();
  /** Tasks suppressed after a rejection, until (ms). */
  private readonly suppressed = new Map<string, number>();
  /**
   * Tasks whose attempt this instance just ended (expire, fail: committed) while the view still
   * shows it live, its event on the way: left alone until the view catches up (or 5 s), so the
   * next pass does not decide the same end again (a proposal the manifest would refuse).
   */
  private readonly ending = new Map<
    string,
    {
      readonly jobId: string;
      readonly taskId: string;
      readonly attempt: number;
      readonly until: number;
    }
  >();
  /** Heartbeats: attempt key → node running it; node → last heartbeat time. */
  private readonly runningOn = new Map<string, string>();
  private readonly runningByNode = new Map<string, string[]>();
  private readonly lastSeen = new Map<string, number>();
  /** Node each attempt we started was placed on (load hint until a heartbeat names the runner). */
  private readonly placedOn = new Map<string, string>();
  /** Attempts the manifest binds to a node, and when that node last showed it holds each. */
  private readonly bound = new BoundAttempts();
  /** Agents whose last heartbeat said "standby" (promotion candidates). */
  private readonly standbys = new Map<string, StandbyNode>();
  private hbSub: Subscription | undefined;
  private eventsStop: (() => Promise<void>) | undefined;
  private lastSeq = 0;
  private ready = false;
  private stopping = false;
  /** Aborted once stop() has let proposals finish: ends the pauses of background retries. */
  private readonly closing = new AbortController();
  private planQueued = false;
  private planning = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private followTimer: NodeJS.Timeout | undefined;
  private readonly followWatchdog = new FollowWatchdog();
  private followChecking = false;
  private resyncing: Promise<void> | undefined;
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  private lastBlocked: string | undefined;
  private readonly log: Logger;
  readonly metrics: SchedulerMetrics;

  private constructor(
    private readonly config: SchedulerConfig,
    logger: Logger,
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly manifest: ManifestPort,
    private http: FastifyInstance | undefined,
  ) {
    this.log = logger;
    this.metrics = new SchedulerMetrics(config.instanceId);
    this.breaker = new StorageBreaker(config.breaker);
    this.plannerConfig = {
      retry: config.retry,
      deadlines: config.deadlines,
      placement: {
        policy: config.placement,
        pools: config.pools,
        cooldownMs: config.cooldownMs,
      },
      prefetch: config.prefetch,
      dataLocation: config.dataLocation,
      maxStartsPerPass: config.maxStartsPerPass,
      batchMaxTasks: config.batchMaxTasks,
      armReduces: config.armReduces,
      unlistedAfterMs: config.unlistedAfterMs,
    };
  }

  /** Connects, rebuilds the view, starts following events. Throws SchedulerError with a reason. */
  static async start(
    config: SchedulerConfig,
    logger: Logger,
    deps: SchedulerDeps = {},
  ): Promise<Scheduler> {
    // The TLS and token files are checked before anything connects (a bad one names its flag).
    let clusterTls: ClusterTls | undefined;
    let api: ApiAccess;
    let httpTls: { cert: string; key: string } | undefined;
    let certificates: CertificateExpiry[];
    try {
      clusterTls = config.clusterTls ? loadClusterTls(config.clusterTls) : undefined;
      const fail = (flag: string, reason: string): never => {
        throw new Error(`--${flag}: ${reason}`);
      };
      const ca = readApiCa(config.apiCaFile, fail);
      api = {
        ...(config.apiTokenFile !== undefined
          ? { token: readApiToken(config.apiTokenFile, fail) }
          : {}),
        ...(ca !== undefined ? { fetch: apiFetcher(ca) } : {}),
      };
      httpTls = config.apiTls ? readApiTlsPair(config.apiTls, fail) : undefined;
      certificates = certificateExpiries(config, fail);
    } catch (err) {
      throw new SchedulerError(SchedulerErrorCode.Config, (err as Error).message, { cause: err });
    }
    let nc: NatsConnection;
    logger.info({ nats: config.natsUrl }, "connecting to NATS");
    try {
      // A scheduler that cannot reach NATS says so and exits instead of waiting silently.
      nc = await connect({
        servers: config.natsUrl,
        name: `scheduler:${config.instanceId}`,
        logger,
        security: config.natsSecurity,
        connectTimeoutMs: NATS_CONNECT_TIMEOUT_MS,
      });
    } catch (err) {
      throw new SchedulerError(
        SchedulerErrorCode.Messaging,
        // A refused login or certificate names its own flag; anything else is the address.
        err instanceof MessagingError && err.code !== "TESSERA_E_MESSAGING_CONNECT"
          ? (err as Error).message
          : `${(err as Error).message} (check --nats)`,
        { cause: err },
      );
    }
    try {
      const jsm = await jetstreamManagerWhenReady(nc);
      // Idempotent: whoever starts first creates the streams; the rest find them equal.
      await provisionStreams(jsm, {
        replicas: config.replicas,
        streams: [EVENTS_STREAM, WORK_STREAM],
      });
      const manifest =
        deps.manifest ??
        (await ConsensusManifest.connect(
          config.consensus,
          `sched-${config.instanceId}-${Date.now().toString(36)}`.slice(0, 64),
          clusterTls,
          api,
        ));
      const s = new Scheduler(config, logger, nc, jetstream(nc), jsm, manifest, undefined);
      reportCertificateExpiry(s.metrics.registry, logger, certificates);
      await s.startHttp(httpTls);
      s.subscribeHeartbeats();
      s.resyncOnReconnect();
      await s.resync("start");
      s.tickTimer = setInterval(() => s.schedulePlan(), config.tickMs);
      s.followTimer = setInterval(() => void s.checkFollow(), FOLLOW_CHECK_MS);
      s.log.info(
        {
          http: s.httpAddress,
          placement: config.placement,
          prefetch: describePrefetch(config.prefetch),
          pools: config.pools,
          index: s.view.index,
        },
        "scheduler started",
      );
      return s;
    } catch (err) {
      await closeGracefully(nc);
      if (err instanceof SchedulerError) throw err;
      throw new SchedulerError(
        SchedulerErrorCode.Consensus,
        `start-up failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  get httpAddress(): string | undefined {
    const a = this.http?.server.address();
    return a && typeof a === "object"
      ? `${apiScheme(this.config.apiTls)}://${a.address}:${a.port}`
      : undefined;
  }

  /** The current view (read-only use: tests, status). */
  get currentView(): SchedulerView {
    return this.view;
  }

  // ---- HTTP --------------------------------------------------------------------------------

  /** /healthz, /readyz, /metrics: over HTTPS with `tls`; nothing here needs a token. */
  private async startHttp(tls: { cert: string; key: string } | undefined): Promise<void> {
    // null: fastify makes a plain HTTP server.
    const app = Fastify({ logger: false, https: tls ? { cert: tls.cert, key: tls.key } : null });
    app.get("/healthz", async () => ({ ok: true, id: this.config.instanceId }));
    app.get("/readyz", async (_req, reply) =>
      reply.code(this.ready ? 200 : 503).send({
        ready: this.ready,
        index: this.view.index,
        jobs: this.view.jobs.size,
        nodes: this.view.nodes.size,
        blocked: this.lastBlocked ?? null,
        breaker: this.breaker.state(Date.now()),
      }),
    );
    app.get("/metrics", async (_req, reply) =>
      reply
        .header("content-type", this.metrics.registry.contentType)
        .send(await this.metrics.registry.metrics()),
    );
    try {
      await app.listen({ host: this.config.http.host, port: this.config.http.port });
    } catch (err) {
      throw new SchedulerError(
        SchedulerErrorCode.Config,
        `--http ${this.config.http.host}:${this.config.http.port}: cannot listen: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.http = app;
  }

  // ---- heartbeats (load and liveness as agents see it) -----------------------------------

  private subscribeHeartbeats(): void {
    this.hbSub = this.nc.subscribe(SUBJECTS.heartbeatAll, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const hb = decodeHeartbeat(msg.data);
          const now = Date.now();
          this.lastSeen.set(hb.nodeId, now);
          if (hb.state === "standby") {
            this.standbys.set(hb.nodeId, { nodeId: hb.nodeId, ...hb.labels, seenAt: now });
          } else {
            this.standbys.delete(hb.nodeId);
          }
          for (const key of this.runningByNode.get(hb.nodeId) ?? []) this.runningOn.delete(key);
          const keys = hb.running.map((r) => attemptKey(r.jobId, r.taskId, r.attempt));
          for (const key of keys) this.runningOn.set(key, hb.nodeId);
          this.runningByNode.set(hb.nodeId, keys);
          // Only attempts the view has started: an agent may list work handed to it early whose
          // start never committed, and that attempt number can still start elsewhere later.
          const live = hb.running.filter(
            (r) => this.view.jobs.get(r.jobId)?.tasks.get(r.taskId)?.live.has(r.attempt) === true,
          );
          this.bound.listed(
            hb.nodeId,
            live.map((r) => attemptKey(r.jobId, r.taskId, r.attempt)),
            now,
          );
        } catch (e) {
          this.log.debug({ err: e, subject: msg.subject }, "ignored an invalid heartbeat");
        }
      },
    });
  }

  private silentNodes(now: number): Set<string> | undefined {
    if (this.config.heartbeatSilenceMs <= 0) return undefined;
    const out = new Set<string>();
    for (const [nodeId, at] of this.lastSeen)
      if (now - at > this.config.heartbeatSilenceMs) out.add(nodeId);
    return out;
  }

  // ---- following events ------------------------------------------------------------------

  /**
   * Rebuilds the view from the manifest and (re)starts the event consumer right after the
   * stream position noted before the reads (see rebuild.ts for why that is gap-free).
   */
  /**
   * A NATS reconnect (the server restarted, or the client moved to another cluster member) may
   * have broken the events consumer without an error; the watchdog would find out only once
   * events pile up behind it. Rebuilding at once costs a manifest read; waiting costs the job's
   * progress (a 2 s NATS outage stalled placement for 6 s more before this).
   */
  private resyncOnReconnect(): void {
    onReconnect(this.nc, () => {
      if (!this.stopping) void this.resync("reconnect");
    });
  }

  private resync(
    reason: "start" | "gap" | "inconsistent" | "stalled" | "reconnect",
  ): Promise<void> {
    if (this.resyncing) return this.resyncing;
    this.resyncing = (async () => {
      this.ready = false;
      this.metrics.rebuilds.inc({ reason });
      const stopEvents = this.eventsStop;
      this.eventsStop = undefined;
      await stopEvents?.();
      let attempt = 0;
      while (!this.stopping) {
        try {
          const t0 = performance.now();
          const info = await this.jsm.streams.info(EVENTS_STREAM.name);
          const fromSeq = info.state.last_seq + 1;
          const r = await rebuildView(this.manifest, { now: Date.now(), pageSize: 1_000 });
          this.view = r.view;
          for (const key of [...this.placedOn.keys()]) {
            const [jobId, taskId, attempt] = key.split("/");
            const live = r.view.jobs
              .get(jobId ?? "")
              ?.tasks.get(taskId ?? "")
              ?.live.has(Number(attempt));
            if (!live) this.placedOn.delete(key);
          }
          this.bound.resetFrom(r.view, Date.now());
          this.metrics.rebuildSeconds.observe((performance.now() - t0) / 1000);
          this.log.info(
            {
              reason,
              index: r.view.index,
              jobs: r.view.jobs.size,
              nodes: r.view.nodes.size,
              tasksRead: r.tasksRead,
              pages: r.pages,
              fromSeq,
            },
            "view rebuilt from the manifest",
          );
          await this.startEvents(fromSeq);
          await this.republishLive();
          this.ready = true;
          this.schedulePlan();
          return;
        } catch (err) {
          attempt++;
          const wait = Math.min(5_000, 200 * 2 ** Math.min(attempt, 5));
          this.log.warn({ err, attempt, retryInMs: wait }, "rebuilding the view failed; retrying");
          await delay(wait, undefined, { signal: this.closing.signal }).catch(() => undefined);
        }
      }
    })().finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  private async startEvents(fromSeq: number): Promise<void> {
    // No subject filter: TESSERA_EVENTS holds only tessera.evt.>, and filter_subjects needs
    // nats-server 2.10 (this project supports 2.9).
    const consumer = await this.js.consumers.get(EVENTS_STREAM.name, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: fromSeq,
    });
    const messages = await consumer.consume();
    this.lastSeq = fromSeq - 1;
    this.followWatchdog.reset();
    let stopped = false;
    const loop = (async () => {
      for await (const msg of messages) {
        if (stopped) break;
        if (msg.seq !== this.lastSeq + 1) {
          this.log.warn(
            { expected: this.lastSeq + 1, got: msg.seq },
            "gap in TESSERA_EVENTS; rebuilding the view",
          );
          void this.resync("gap");
          break;
        }
        this.lastSeq = msg.seq;
        this.onEventMessage(msg.data, msg.seq);
      }
    })().catch((err: unknown) => {
      if (!this.stopping) {
        this.log.warn({ err }, "event consumer failed; rebuilding the view");
        void this.resync("gap");
      }
    });
    this.eventsStop = async () => {
      stopped = true;
      await messages.close().catch(() => undefined);
      // A consumer that stalled may never end its iterator; do not let it block the restart.
      await Promise.race([loop, sleep(FOLLOW_CHECK_MS)]);
    };
  }

  /** Periodic: restart the follow (and rebuild the view) when it stalled with events waiting. */
  private async checkFollow(): Promise<void> {
    if (this.stopping || this.resyncing || this.followChecking || !this.eventsStop) return;
    this.followChecking = true;
    try {
      const streamLast = (await this.jsm.streams.info(EVENTS_STREAM.name)).state.last_seq;
      if (this.resyncing || this.stopping) return;
      if (this.followWatchdog.check(this.lastSeq, streamLast)) {
        this.log.warn(
          { applied: this.lastSeq, streamLast, checkMs: FOLLOW_CHECK_MS },
          "following TESSERA_EVENTS stalled; restarting it and rebuilding the view",
        );
        void this.resync("stalled");
      }
    } catch {
      // NATS is unreachable or re-electing: the next check asks again.
    } finally {
      this.followChecking = false;
    }
  }

  private onEventMessage(data: Uint8Array, seq: number): void {
    let batch: ReturnType<typeof decodeManifestEventBatch>;
    try {
      batch = decodeManifestEventBatch(data);
    } catch (err) {
      // A batch we cannot read may hide state changes: the manifest is the truth, re-read it.
      this.log.error({ err, seq }, "undecodable event batch; rebuilding the view");
      void this.resync("inconsistent");
      return;
    }
    const observations: Observation[] = [];
    const startedBatches = new Map<string, StartDecision[]>();
    const outcome = applyBatch(this.view, batch, observations);
    if (outcome.kind === "inconsistent") {
      this.log.warn(
        { reason: outcome.reason, index: batch.index },
        "event does not fit the view; rebuilding",
      );
      void this.resync("inconsistent");
      return;
    }
    if (outcome.kind === "stale") return;
    this.metrics.eventsApplied.inc();
    this.metrics.viewIndex.set(this.view.index);
    for (const ev of batch.events) {
      if (
        ev.category === "task" &&
        (ev.type === "completed" ||
          ev.type === "attempt-failed" ||
          ev.type === "attempt-expired" ||
          ev.type === "attempt-released")
      ) {
        this.placedOn.delete(attemptKey(ev.jobId, ev.taskId, ev.attempt));
        this.bound.ended(attemptKey(ev.jobId, ev.taskId, ev.attempt));
      }
      if (
        ev.category === "task" &&
        ((ev.type === "started" && ev.nodeId !== undefined) || ev.type === "claimed")
      ) {
        this.bound.bound(attemptKey(ev.jobId, ev.taskId, ev.attempt), Date.now());
      }
      if (
        ev.category === "job" &&
        (ev.type === "succeeded" || ev.type === "failed" || ev.type === "cancelled")
      ) {
        this.durations.dropJob(ev.jobId);
        this.runTimes.dropJob(ev.jobId);
        this.bound.endJob(ev.jobId);
      }
      if (ev.category === "task" && ev.type === "started") {
        // Committed: publish even if our proposal's reply got lost (timeout, leader change).
        const akey = attemptKey(ev.jobId, ev.taskId, ev.attempt);
        const pending = this.awaitingPublish.get(akey);
        if (ev.handed === true) {
          // Handed over with the direct report that started it: the reporting agent runs it and
          // no work item is published; it only counts against that node's load.
          this.awaitingPublish.delete(akey);
          if (ev.nodeId) this.placedOn.set(akey, ev.nodeId);
        } else if (ev.armed === true) {
          // Started by a completion, not by a proposal: an arming of ours, or of a previous
          // life / another instance (then placed now, as after a restart).
          const held = pending ?? this.startOfLive(ev.jobId, ev.taskId, ev.attempt);
          // The manifest moved the deadline to count from the start, not the arming.
          const d = held && { ...held, deadlineAt: ev.deadlineAt ?? held.deadlineAt };
          if (d) {
            if (d.nodeId) this.placedOn.set(akey, d.nodeId);
            this.awaitingPublish.set(akey, d);
            void this.publish(d);
          }
        } else if (pending && ev.batch === undefined) void this.publish(pending);
        else if (pending && ev.batch !== undefined) {
          // A batch's starts all commit in one entry, so all of them are in this event batch.
          const group = startedBatches.get(ev.batch) ?? [];
          group.push(pending);
          startedBatches.set(ev.batch, group);
        }
      }
    }
    for (const [batchId, ds] of startedBatches) void this.publishBatch(batchId, ds);
    this.observe(observations);
    this.schedulePlan();
  }

  private observe(observations: readonly Observation[]): void {
    const now = Date.now();
    for (const o of observations) {
      const key =
        o.jobId && o.taskId && o.attempt ? attemptKey(o.jobId, o.taskId, o.attempt) : undefined;
      if (o.type === "task-completed" && o.jobId && o.taskId && o.kind) {
        const done = this.view.jobs.get(o.jobId)?.tasks.get(o.taskId)?.completed;
        if (done) this.durations.add(o.jobId, o.kind, done.durationMs);
        if (o.runMs !== undefined) this.runTimes.add(o.jobId, o.kind, o.runMs);
        this.breaker.recordSuccess(now, key);
      } else if (o.type === "attempt-failed") {
        const before = this.breaker.opens;
        this.breaker.recordFailure(now, o.reason, key);
        if (this.breaker.opens > before) {
          this.metrics.breakerOpens.inc();
          this.log.warn(
            { reason: o.reason, reopensAt: this.breaker.reopensAt() },
            "storage circuit breaker opened: placement paused",
          );
        }
        if (o.kind === "reduce" && o.jobId && o.taskId && o.reason)
          this.resetPartials(o.jobId, o.taskId, o.reason);
      } else if (o.type === "node-failed" && o.nodeId && this.config.promoteStandby) {
        // Only a failure that just happened: one read from a backlog needs no stand-in now.
        if (now - o.at <= STANDBY_REACT_WITHIN_MS) void this.promoteStandbyFor(o.nodeId);
      }
    }
    this.metrics.breakerState.set({ closed: 0, "half-open": 1, open: 2 }[this.breaker.state(now)]);
  }

  /**
   * An active node failed: ask its pool's warm standbys, nearest first, to promote themselves
   * until one answers that it is active. Its next heartbeat offers its slots, the manifest
   * records them, and placement fills them like any node's.
   */
  private async promoteStandbyFor(failedId: string): Promise<void> {
    const node = this.view.nodes.get(failedId);
    if (!node || node.capacity.slots <= 0) return;
    const candidates = standbyCandidates(
      { nodeId: failedId, ...node.labels, slots: node.capacity.slots },
      this.standbys.values(),
      Date.now(),
      STANDBY_SILENCE_MS,
    );
    const log = this.log.child({ replacing: failedId, pool: node.labels.pool });
    if (candidates.length === 0) {
      this.metrics.standbyPromotions.inc({ outcome: "no-standby" });
      log.debug("node failed; no warm standby in its pool");
      return;
    }
    const request = encodeAgentControlRequest({
      v: 1,
      op: "promote",
      by: `scheduler:${this.config.instanceId}`,
    });
    for (const nodeId of candidates) {
      try {
        const msg = await this.nc.request(agentControlSubject(nodeId), request, {
          timeout: STANDBY_REQUEST_TIMEOUT_MS,
        });
        const reply = decodeAgentControlReply(msg.data);
        if (reply.state !== "active") continue; // draining, or it refused: ask the next one
        this.standbys.delete(nodeId);
        this.metrics.standbyPromotions.inc({
          outcome: reply.changed ? "promoted" : "already-active",
        });
        log.info({ nodeId, changed: reply.changed }, "warm standby promoted");
        return;
      } catch (err) {
        log.warn({ err, nodeId }, "warm standby did not answer a promote request");
      }
    }
    this.metrics.standbyPromotions.inc({ outcome: "none-answered" });
    log.warn({ candidates }, "node failed and no warm standby could be promoted");
  }

  /** A reduce read a corrupt partial: send the partial(s) back to runnable (task-reset). */
  private resetPartials(jobId: string, reduceTaskId: string, reason: string): void {
    const job = this.view.jobs.get(jobId);
    if (!job) return;
    const maps = partialsToReset(job, reduceTaskId, reason).filter(
      (m) => job.tasks.get(m)?.completed,
    );
    if (maps.length === 0) return;
    // Hold the reduce back until the resets commit, or it would re-read the same bad bytes.
    const rkey = taskKey(jobId, reduceTaskId);
    this.inflight.add(rkey);
    void Promise.all(
      maps.map((taskId) =>
        this.execute({
          type: "reset",
          jobId,
          taskId,
          attempt: job.tasks.get(taskId)?.completed?.attempt,
          reason: `reduce ${reduceTaskId} read a corrupt partial: ${reason}`.slice(0, 1000),
        }),
      ),
    ).finally(() => {
      this.inflight.delete(rkey);
      this.schedulePlan();
    });
  }

  // ---- planning and executing --------------------------------------------------------------

  /**
   * Forgets armings that ended: started (the event published the item), job ended, or the
   * reduce runnable without a start (disarmed: the ordinary path starts it now).
   */
  private pruneArmed(): void {
    for (const [key, d] of this.armed) {
      const job = this.view.jobs.get(d.jobId);
      const started = (job?.tasks.get(d.taskId)?.lastAttempt ?? 0) >= d.attempt;
      if (job && !isFinished(job.state) && !started && !reduceReady(job, d.i, d.j)) continue;
      this.armed.delete(key);
      if (!started) this.awaitingPublish.delete(attemptKey(d.jobId, d.taskId, d.attempt));
    }
  }

  private pruneEnding(now: number): void {
    for (const [key, e] of this.ending) {
      const live = this.view.jobs.get(e.jobId)?.tasks.get(e.taskId)?.live.has(e.attempt) === true;
      if (!live || e.until <= now) this.ending.delete(key);
    }
  }

  private schedulePlan(): void {
    if (this.planQueued || this.stopping) return;
    this.planQueued = true;
    setImmediate(() => {
      this.planQueued = false;
      this.runPlan();
    });
  }

  private runPlan(): void {
    if (!this.ready || this.stopping || this.planning) return;
    this.planning = true;
    try {
      const now = Date.now();
      for (const [key, until] of this.suppressed) if (until <= now) this.suppressed.delete(key);
      this.pruneEnding(now);
      for (const [key, p] of this.pendingStarts)
        if (pendingStartSeen(this.view, p)) this.pendingStarts.delete(key);
      this.pruneArmed();
      const skip = new Set([
        ...this.inflight,
        ...this.suppressed.keys(),
        ...this.armed.keys(),
        ...this.ending.keys(),
      ]);
      const t0 = performance.now();
      const p = plan(this.view, this.plannerConfig, {
        now,
        inflight: skip,
        runningOn: this.runningOn,
        placedOn: this.placedOn,
        silentNodes: this.silentNodes(now),
        durations: this.durations,
        runTimes: this.runTimes,
        breaker: this.breaker,
        pendingStarts: this.pendingStarts,
        boundSeen: this.bound.lastSeen,
        listedBy: this.bound.listedBy,
        beatAt: this.lastSeen,
        heldBy: this.runningByNode,
      });
      this.metrics.planSeconds.observe((performance.now() - t0) / 1000);
      if (p.blocked !== this.lastBlocked) {
        if (this.lastBlocked) this.metrics.blocked.set({ reason: this.lastBlocked }, 0);
        if (p.blocked) this.metrics.blocked.set({ reason: p.blocked }, 1);
        this.log.debug({ blocked: p.blocked }, "placement state");
        this.lastBlocked = p.blocked;
      }
      let live = 0;
      for (const job of this.view.jobs.values()) for (const t of job.unsettled) live += t.live.size;
      this.metrics.liveAttempts.set(live);
      const batchable: StartDecision[] = [];
      for (const d of p.decisions) {
        this.inflight.add(taskKey(d.jobId, d.taskId));
        if (d.type === "start") this.pendingStarts.set(attemptKey(d.jobId, d.taskId, d.attempt), d);
        this.metrics.decisions.inc({
          type:
            d.type !== "start"
              ? d.type
              : d.speculative
                ? "speculate"
                : d.whenReady
                  ? "arm"
                  : "start",
        });
        if (d.type === "expire") this.metrics.expiries.inc({ cause: d.cause });
        if (d.type === "start" && this.batchable(d)) {
          batchable.push(d);
          continue;
        }
        void this.execute(d).finally(() => {
          this.inflight.delete(taskKey(d.jobId, d.taskId));
          this.schedulePlan();
        });
      }
      for (const group of groupIntoBatches(batchable, this.plannerConfig.batchMaxTasks)) {
        this.launchBatch(group);
      }
      this.metrics.pendingStarts.set(this.pendingStarts.size);
      if (this.wakeTimer) clearTimeout(this.wakeTimer);
      this.wakeTimer = undefined;
      if (p.wakeAt !== undefined) {
        this.wakeTimer = setTimeout(() => this.schedulePlan(), Math.max(1, p.wakeAt - Date.now()));
      }
    } finally {
      this.planning = false;
    }
  }

  private async slot(): Promise<() => void> {
    while (this.active >= this.config.proposeConcurrency) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    this.active++;
    return () => {
      this.active--;
      this.waiters.shift()?.();
    };
  }

  private commandFor(d: Decision): ManifestCommand {
    switch (d.type) {
      case "start":
        // No nodeId: agents of a pool share one consumer, and the manifest binds an attempt to
        // the node named here (a completion from another agent of the pool would be refused).
        return {
          type: "attempt-start",
          jobId: d.jobId,
          taskId: d.taskId,
          attempt: d.attempt,
          ...(d.speculative ? { speculative: true } : {}),
          deadlineAt: Math.round(d.deadlineAt),
          ...(d.whenReady ? { whenReady: true } : {}),
        };
      case "expire":
        return {
          type: "attempt-expire",
          jobId: d.jobId,
          taskId: d.taskId,
          attempt: d.attempt,
          reason: d.reason,
        };
      case "fail":
        return {
          type: "attempt-fail",
          jobId: d.jobId,
          taskId: d.taskId,
          attempt: d.attempt,
          reason: d.reason,
          retryable: false,
        };
      case "reset":
        // task-reset joined the command set after this file's protocol version; checked at run time.
        return {
          type: "task-reset",
          jobId: d.jobId,
          taskId: d.taskId,
          reason: d.reason,
        } as unknown as ManifestCommand;
    }
  }

  private async execute(d: Decision): Promise<void> {
    const release = await this.slot();
    const attempt = "attempt" in d ? d.attempt : undefined;
    const log = withContext(this.log, {
      jobId: d.jobId,
      taskId: d.taskId,
      attempt,
      nodeId: d.type === "start" ? d.nodeId : undefined,
    });
    const cmd = this.commandFor(d);
    const akey = attempt === undefined ? undefined : attemptKey(d.jobId, d.taskId, attempt);
    if (d.type === "start" && akey) this.awaitingPublish.set(akey, d);
    const reply = await this.proposeTimed(cmd, log);
    release();
    if (reply === undefined) {
      // Outcome unknown: if it committed, its event publishes the item (awaitingPublish) and
      // brings the attempt into the view (and its load) anyway.
      if (d.type === "start") this.forgetStart(d, 2_000, false);
      else this.suppressed.set(taskKey(d.jobId, d.taskId), Date.now() + 2_000);
      return;
    }
    if (reply.ok) {
      this.metrics.proposals.inc({ command: cmd.type, outcome: "ok", code: "" });
      if (d.type === "start" && akey && d.whenReady && reply.result?.armed === true) {
        // Held by the manifest: its task.started event (armed) publishes the item.
        this.pendingStarts.delete(akey);
        this.armed.set(taskKey(d.jobId, d.taskId), d);
        log.debug({ pool: d.pool, placedOn: d.nodeId }, "reduce armed");
        return;
      }
      if (d.type === "start") {
        if (akey && d.nodeId) this.placedOn.set(akey, d.nodeId);
        log.info(
          {
            kind: d.kind,
            pool: d.pool,
            speculative: d.speculative,
            why: d.why,
            placedOn: d.nodeId,
          },
          "attempt started",
        );
        await this.publish(d);
      } else {
        if (attempt !== undefined) {
          const { jobId, taskId } = d;
          this.ending.set(taskKey(jobId, taskId), {
            jobId,
            taskId,
            attempt,
            until: Date.now() + 5_000,
          });
        }
        log.info(
          { command: cmd.type, reason: "reason" in d ? d.reason : undefined },
          `${cmd.type} committed`,
        );
      }
      return;
    }
    this.metrics.proposals.inc({ command: cmd.type, outcome: "rejected", code: reply.code });
    if (akey) this.awaitingPublish.delete(akey);
    if (d.type === "start" && d.whenReady && reply.code === "schema-error") {
      // A peer that predates whenReady: reduces start the ordinary way until restarted.
      this.plannerConfig = { ...this.plannerConfig, armReduces: false };
      log.warn(
        { reason: reply.reason },
        "the manifest does not know whenReady; arming off until restart",
      );
    }
    if (d.type === "start" && akey) {
      this.breaker.cancelProbe(akey);
      this.pendingStarts.delete(akey);
    }
    log[d.type === "start" ? "debug" : "info"](
      { command: cmd.type, code: reply.code, reason: reply.reason },
      "proposal rejected by the manifest",
    );
    this.suppressed.set(taskKey(d.jobId, d.taskId), Date.now() + 1_000);
    if (STALE_CODES.has(reply.code)) await this.refreshTask(d.jobId, d.taskId);
  }

  /**
   * Proposes `cmd`, timed and counted; undefined when the outcome is unknown (logged: the event
   * stream will tell whether it committed).
   */
  private async proposeTimed(cmd: ManifestCommand, log: Logger): Promise<ReplyJson | undefined> {
    const end = this.metrics.proposeSeconds.startTimer({ command: cmd.type });
    try {
      return await this.manifest.propose(cmd);
    } catch (err) {
      this.metrics.proposals.inc({ command: cmd.type, outcome: "error", code: "" });
      log.warn(
        { err, command: cmd.type },
        "proposal failed (outcome unknown; the event stream will tell)",
      );
      return undefined;
    } finally {
      end();
    }
  }

  /**
   * A fresh start of a job whose tasks are known short (mode "empty"): the batched path. An
   * arming goes alone (attempt-start-batch has no whenReady; its start is published alone).
   */
  private batchable(d: StartDecision): boolean {
    const spec = this.view.jobs.get(d.jobId)?.spec;
    return (
      this.plannerConfig.batchMaxTasks > 1 &&
      !d.speculative &&
      d.whenReady !== true &&
      !!spec &&
      travelsInBatches(spec)
    );
  }

  private launchBatch(ds: readonly StartDecision[]): void {
    const lone = ds.length === 1 ? ds[0] : undefined;
    const run = lone ? this.execute(lone) : this.executeBatch(ds);
    void run.finally(() => {
      for (const d of ds) this.inflight.delete(taskKey(d.jobId, d.taskId));
      this.schedulePlan();
    });
  }

  /** One attempt-start-batch for `ds` (one job, one pool); its accepted starts, one WorkBatchV1. */
  private async executeBatch(ds: readonly StartDecision[]): Promise<void> {
    const first = ds[0];
    if (!first) return;
    const release = await this.slot();
    const log = withContext(this.log, { jobId: first.jobId });
    for (const d of ds) this.awaitingPublish.set(attemptKey(d.jobId, d.taskId, d.attempt), d);
    const cmd: ManifestCommand = {
      type: "attempt-start-batch",
      jobId: first.jobId,
      starts: ds.map((d) => ({
        taskId: d.taskId,
        attempt: d.attempt,
        deadlineAt: Math.round(d.deadlineAt),
      })),
    };
    const reply = await this.proposeTimed(cmd, log);
    release();
    if (reply === undefined) {
      // Outcome unknown: if it committed, its task.started events publish the batch.
      for (const d of ds) this.forgetStart(d, 2_000, false);
      return;
    }
    let result: StartBatchResult;
    try {
      if (!reply.ok) throw new Error(`${reply.code}: ${reply.reason}`);
      result = parseStartBatchResult(reply.result, "attempt-start-batch reply");
    } catch (err) {
      // Refused as a whole (e.g. a peer that predates batches): nothing started.
      this.metrics.proposals.inc({
        command: cmd.type,
        outcome: "rejected",
        code: reply.ok ? "" : reply.code,
      });
      if (!reply.ok && reply.code === "schema-error" && this.plannerConfig.batchMaxTasks > 1) {
        // A peer that predates the command: fall back to one start per task until restarted.
        this.plannerConfig = { ...this.plannerConfig, batchMaxTasks: 1 };
        log.warn(
          { reason: reply.reason },
          "the manifest does not know attempt-start-batch; batched path off until restart",
        );
      } else {
        log.warn({ err, starts: ds.length }, "attempt-start-batch refused as a whole");
      }
      for (const d of ds) this.forgetStart(d, 1_000, true);
      return;
    }
    this.metrics.proposals.inc({ command: cmd.type, outcome: "ok", code: "" });
    const byKey = new Map(ds.map((d) => [attemptKey(d.jobId, d.taskId, d.attempt), d]));
    for (const r of result.refused) {
      const d = byKey.get(attemptKey(first.jobId, r.taskId, r.attempt));
      if (!d) continue;
      this.metrics.proposals.inc({ command: "attempt-start", outcome: "rejected", code: r.code });
      log.debug({ taskId: r.taskId, code: r.code, reason: r.reason }, "start refused in a batch");
      this.forgetStart(d, 1_000, true);
      if (STALE_CODES.has(r.code)) void this.refreshTask(d.jobId, d.taskId);
    }
    const started: StartDecision[] = [];
    for (const s of result.started) {
      const d = byKey.get(attemptKey(first.jobId, s.taskId, s.attempt));
      if (!d) continue;
      started.push(d);
      if (d.nodeId) this.placedOn.set(attemptKey(d.jobId, d.taskId, d.attempt), d.nodeId);
    }
    if (result.batch === null || started.length === 0) return;
    log.info(
      {
        batch: result.batch,
        started: started.length,
        refused: result.refused.length,
        pool: first.pool,
      },
      "attempts started (batch)",
    );
    await this.publishBatch(result.batch, started);
  }

  /** A start that did not (or may not have) committed: release what it held. */
  private forgetStart(d: StartDecision, suppressMs: number, refused: boolean): void {
    const akey = attemptKey(d.jobId, d.taskId, d.attempt);
    // Refused: it will never commit. Unknown: its event may still publish it (awaitingPublish).
    if (refused) this.awaitingPublish.delete(akey);
    this.breaker.cancelProbe(akey);
    this.pendingStarts.delete(akey);
    this.suppressed.set(taskKey(d.jobId, d.taskId), Date.now() + suppressMs);
  }

  /** Re-reads one task after the manifest said our view of it is behind (another scheduler). */
  private async refreshTask(jobId: string, taskId: string): Promise<void> {
    try {
      const r = await this.manifest.task(jobId, taskId);
      const job = this.view.jobs.get(jobId);
      const mt = r.value;
      if (!job || !mt) return;
      applyTaskRead(job, taskId, mt, r.appliedIndex, Date.now());
    } catch (err) {
      this.log.debug({ err, jobId, taskId }, "re-reading a task failed");
    }
  }

  /** Publishes the work item of a committed attempt-start (idempotent via msg id). */
  private async publish(d: StartDecision): Promise<void> {
    const itemId = workItemId(d.jobId, d.taskId, d.attempt);
    const akey = attemptKey(d.jobId, d.taskId, d.attempt);
    if (!this.awaitingPublish.has(akey)) return; // the reply and the event both lead here
    this.awaitingPublish.delete(akey);
    const item = this.itemFor(d);
    if (!item) return;
    try {
      const r = await publishWithDedup(
        this.js,
        workSubject(d.pool, d.kind),
        encodeWorkItem(item),
        workItemMsgId(itemId),
        { retryOnReconnect: this.nc },
      );
      this.metrics.published.inc({ kind: d.kind, duplicate: String(r.duplicate) });
      this.log.debug({ itemId, seq: r.seq, duplicate: r.duplicate }, "work item published");
    } catch (err) {
      // The attempt is live without an item: it overruns its deadline and is expired, or the
      // next restart re-publishes it. Log loudly; this means NATS is down.
      this.log.error({ err, itemId }, "publishing a committed work item failed");
      this.awaitingPublish.set(akey, d);
      setTimeout(() => void this.publish(d), 1_000).unref();
    }
  }

  /** The work item of a started attempt (undefined: its job left the view). */
  private itemFor(d: StartDecision): WorkItemV1 | undefined {
    const job = this.view.jobs.get(d.jobId);
    if (!job) return undefined;
    return buildWorkItem({ ...d, job: job.spec, issuedAt: Date.now(), deadlineMs: d.deadlineAt });
  }

  /**
   * Publishes the work of a committed attempt-start-batch as one WorkBatchV1 (idempotent via
   * its msg id): the started attempts of `batchId` still awaiting publication, all of one pool.
   */
  private async publishBatch(batchId: string, ds: readonly StartDecision[]): Promise<void> {
    const mine = ds.filter((d) =>
      this.awaitingPublish.delete(attemptKey(d.jobId, d.taskId, d.attempt)),
    );
    const first = mine[0];
    if (!first) return; // the reply and the events both lead here
    const items = mine.map((d) => this.itemFor(d)).filter((i): i is WorkItemV1 => i !== undefined);
    if (items.length === 0) return;
    try {
      const r = await publishWithDedup(
        this.js,
        workBatchSubject(first.pool),
        encodeWorkBatch({ v: 1, batchId, jobId: first.jobId, pool: first.pool, items }),
        workBatchMsgId(batchId),
        { retryOnReconnect: this.nc },
      );
      this.metrics.published.inc({ kind: "batch", duplicate: String(r.duplicate) });
      this.log.debug(
        { batch: batchId, items: items.length, seq: r.seq, duplicate: r.duplicate },
        "work batch published",
      );
    } catch (err) {
      this.log.error({ err, batch: batchId }, "publishing a committed work batch failed");
      for (const d of mine) this.awaitingPublish.set(attemptKey(d.jobId, d.taskId, d.attempt), d);
      setTimeout(() => void this.publishBatch(batchId, mine), 1_000).unref();
    }
  }

  /**
   * After a rebuild: live attempts started within the work stream's duplicate window get
   * their item published again. If it is still queued or was already taken, JetStream drops
   * the copy; if our previous life crashed between commit and publish, this is the publish.
   */
  private async republishLive(): Promise<void> {
    const now = Date.now();
    const window = WORK_STREAM.duplicateWindowMs - 10_000;
    const nodes = this.placementNodes();
    let count = 0;
    /** Live attempts of each batch: re-published together, under the batch's own msg id. */
    const batches = new Map<string, StartDecision[]>();
    for (const job of this.view.jobs.values()) {
      for (const t of [...job.unsettled]) {
        for (const a of t.live.values()) {
          if (now - a.startedAt > window) continue;
          // Bound to a node by the manifest: handed over with the direct report that started it
          // (this scheduler never names a node in its starts), so no work item exists to repeat.
          if (a.nodeId !== undefined) continue;
          const inBatch = a.batch === undefined ? undefined : batches.get(a.batch)?.[0];
          const d = this.startOfLive(job.jobId, t.taskId, a.attempt, nodes, inBatch?.pool);
          if (!d) continue;
          this.awaitingPublish.set(attemptKey(job.jobId, t.taskId, a.attempt), d);
          count++;
          if (a.batch === undefined) {
            await this.publish(d);
            continue;
          }
          const group = batches.get(a.batch) ?? [];
          group.push(d);
          batches.set(a.batch, group);
        }
      }
    }
    for (const [batchId, ds] of batches) await this.publishBatch(batchId, ds);
    if (count > 0)
      this.log.info(
        { count },
        "re-published work items of recent live attempts (dedup drops copies)",
      );
  }

  /** The nodes as placement candidates, each with its slots free (a placement for a publish). */
  private placementNodes(): NodeCandidate[] {
    return [...this.view.nodes.values()].map((n) => ({
      nodeId: n.nodeId,
      pool: n.labels.pool,
      cloud: n.labels.cloud,
      region: n.labels.region,
      zone: n.labels.zone,
      slots: Math.max(1, n.capacity.slots),
      inFlight: 0,
      failed: n.state === "failed",
      drained: n.drained,
      lastFailureAt: undefined,
    }));
  }

  /**
   * A start decision for a live attempt this instance did not propose (or no longer remembers),
   * to publish its work: placed now unless `pool` is given. Undefined when the view has no such
   * live attempt or no pool can take it.
   */
  private startOfLive(
    jobId: string,
    taskId: string,
    attempt: number,
    nodes: NodeCandidate[] = this.placementNodes(),
    pool?: string,
  ): StartDecision | undefined {
    const t = this.view.jobs.get(jobId)?.tasks.get(taskId);
    const a = t?.live.get(attempt);
    if (!t || !a) return undefined;
    const now = Date.now();
    const placed = placeTask(nodes, now, this.plannerConfig.placement);
    const into = pool ?? (placed.ok ? placed.pool : this.config.pools[0]);
    if (!into) return undefined;
    return {
      type: "start",
      jobId,
      taskId,
      kind: t.kind,
      i: t.i,
      j: t.j,
      k: t.k,
      attempt,
      nodeId: placed.ok ? placed.nodeId : "",
      pool: into,
      speculative: a.speculative,
      deadlineAt: a.deadlineAt ?? now + this.config.deadlines.initialDeadlineMs,
      why: "fresh",
    };
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** SIGTERM: stop planning, let proposals in flight finish (and publish), close everything. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.ready = false;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.followTimer) clearInterval(this.followTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    const deadline = Date.now() + graceMs;
    while ((this.active > 0 || this.inflight.size > 0) && Date.now() < deadline) await sleep(20);
    // What is still running now only reads (a view rebuild, its retry pause): closing the
    // manifest client ends those reads at once. They retry for 15 s against peers that may be
    // stopping too (an uninstall): the stop then took 15.8 s.
    this.closing.abort();
    this.manifest.close();
    await this.eventsStop?.().catch(() => undefined);
    await this.resyncing?.catch(() => undefined);
    this.hbSub?.unsubscribe();
    await this.http?.close().catch(() => undefined);
    await closeGracefully(this.nc);
    this.log.info({ inflightLeft: this.inflight.size }, "scheduler stopped");
  }
}
