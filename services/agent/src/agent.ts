// The agent: composes the kernel runner, storage, NATS bus, heartbeater and work loop, and owns
// the lifecycle (start → active|standby → draining → stopped).
import { availableParallelism, totalmem } from "node:os";
import {
  certificateExpiries,
  type FlagFailure,
  missingTileBufferMalloc,
  readApiTlsPair,
} from "@tessera/config";
import {
  type Logger,
  reportCertificateExpiry,
  reportTileBufferMalloc,
} from "@tessera/observability";
import { createObjectStore, type ObjectStore, storageConfigFromSpec } from "@tessera/storage";
import type { AgentConfig } from "./config.js";
import { DirectReporter } from "./direct-reporter.js";
import { AgentError, AgentErrorCode } from "./errors.js";
import { type AgentState, Heartbeater } from "./heartbeat.js";
import { AgentHttp } from "./http.js";
import { InputTileCache } from "./input-cache.js";
import { KernelRunner, type TileKernels } from "./kernel/kernel-runner.js";
import { KernelThreads } from "./kernel/kernel-threads.js";
import { createAgentMetrics } from "./metrics.js";
import { AgentBus } from "./nats-bus.js";
import { executeWorkItem } from "./task-executor.js";
import { TileBufferPool } from "./tile-buffers.js";
import { WorkLoop } from "./work-loop.js";

/**
 * Free tile buffers kept for reuse. A map needs one tile, a reduce its K partials and its output
 * (n 8192, tile 2048: K = 4, 5 × 16 MiB): two slots' worth (and more) at that size fits, so a warm agent
 * allocates (almost) no tile memory per task; anything beyond is left to the garbage collector.
 */
const TILE_BUFFER_POOL_BYTES = 256 * 1024 * 1024;

/**
 * How long a direct report waits for the leader's answer before trying again (the same seq: a
 * repeat is answered from the manifest's session table) and then TESSERA_CMD. Far above a commit
 * (milliseconds), and short because the one time it runs out is a leader that died holding the
 * report: the retry then finds no responders (or the new leader) and the job does not stall for
 * it (`pnpm bench failover --strategies leader`: commits stalled 669 ms with 1 s, 374–447 with
 * 250 ms, 304–320 without direct reports; test/e2e/README.md, twenty-seventh session).
 */
const DIRECT_REPORT_TIMEOUT_MS = 250;

export class Agent {
  private state: AgentState;
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly config: AgentConfig,
    readonly runner: TileKernels,
    private readonly store: ObjectStore,
    private readonly inputs: InputTileCache,
    private readonly bus: AgentBus,
    private readonly loop: WorkLoop,
    private readonly heartbeater: Heartbeater,
    private readonly http: AgentHttp,
    private readonly logger: Logger,
  ) {
    this.state = config.standby ? "standby" : "active";
  }

  static async start(
    config: AgentConfig,
    logger: Logger,
    env: Readonly<Record<string, string | undefined>>,
  ): Promise<Agent> {
    // The HTTPS and certificate files first: a bad one fails the start naming its flag.
    const fail: FlagFailure = (flag, reason, cause) => {
      throw new AgentError(AgentErrorCode.Config, `--${flag}: ${reason}`, { cause });
    };
    const httpTls = config.apiTls ? readApiTlsPair(config.apiTls, fail) : undefined;
    const certificates = certificateExpiries(config, fail);
    // Kernel first: `--ep cuda` on a node without CUDA must fail before touching the network.
    const jsThreadRunner = await KernelRunner.create({
      ep: config.ep,
      intraOpThreads: config.threads,
      int8: config.int8 ? "auto" : "off",
    });
    if (jsThreadRunner.fallbackReason) {
      logger.warn(
        { reason: jsThreadRunner.fallbackReason },
        "CUDA execution provider unavailable; running on CPU",
      );
    }
    logger.info(
      jsThreadRunner.int8MaxBound > 0
        ? { int8MaxBound: jsThreadRunner.int8MaxBound }
        : { int8Unavailable: jsThreadRunner.int8Unavailable },
      jsThreadRunner.int8MaxBound > 0
        ? "exact-mode maps run as 8-bit integer GEMMs where their element bound allows"
        : "exact-mode maps run in float32",
    );
    reportTileBufferMalloc(logger, missingTileBufferMalloc(env));
    const store = createObjectStore(storageConfigFromSpec(config.storage, env));
    let loop: WorkLoop | undefined;
    const runningCount = () => loop?.runningTasks().length ?? 0;
    const metrics = createAgentMetrics({ nodeId: config.nodeId, pool: config.pool }, runningCount);
    reportCertificateExpiry(metrics.registry, logger, certificates);
    const meteredStore = metrics.meter(store, store.backend);
    const inputs = new InputTileCache(config.tileCacheMb * 1024 * 1024);
    const buffers = new TileBufferPool(TILE_BUFFER_POOL_BYTES);
    const bus = await AgentBus.connect({
      servers: config.natsUrl.split(","),
      name: `tessera-agent-${config.nodeId}`,
      security: config.natsSecurity,
      pool: config.pool,
      ackWaitMs: config.ackWaitMs,
      maxDeliver: config.maxDeliver,
      replicas: config.replicas,
      logger,
    });
    let http: AgentHttp | undefined;
    // Threads only once NATS answered: a failed start has fewer things to take down.
    const runner: TileKernels =
      config.kernelThreads > 0
        ? new KernelThreads(jsThreadRunner, { threads: config.kernelThreads })
        : jsThreadRunner;
    try {
      await bus.provision();
      const source = await bus.workSource();
      const reporter = new DirectReporter({
        nodeId: config.nodeId,
        pool: config.pool,
        // A stopping agent takes nothing over: what it was handed would outlive its grace period.
        handoverMax: () => (loop?.takesWork ? config.slots : 0),
        request: config.directReports
          ? (report, onEarly) => bus.requestDirect(report, DIRECT_REPORT_TIMEOUT_MS, onEarly)
          : undefined,
        early: config.earlyHandover,
        publishCompletion: (outcome) => bus.publishCompletion(outcome),
        publishCompletions: (batchId, outcomes) =>
          bus.publishCompletions(batchId, config.nodeId, outcomes),
        onReported: (path, handed) => metrics.reported(path, handed),
        onHanded: (items) => loop?.acceptHanded(items),
        onUnconfirmed: (items) => loop?.withdrawHanded(items),
        logger,
      });
      let agent: Agent | undefined;
      loop = new WorkLoop(
        {
          slots: config.slots,
          ackWaitMs: config.ackWaitMs,
          maxDeliver: config.maxDeliver,
          source,
          execute: async (item) => {
            const outcome = await executeWorkItem(item, {
              store: meteredStore,
              runner,
              inputs,
              buffers,
              nodeId: config.nodeId,
            });
            metrics.observeOutcome(outcome, item.job);
            return outcome;
          },
          report: (outcome) => reporter.report(outcome),
          reportBatch: (batchId, outcomes) => reporter.reportBatch(batchId, outcomes),
          logger,
        },
        config.standby,
      );
      const heartbeater = new Heartbeater(
        {
          nodeId: config.nodeId,
          labels: {
            cloud: config.cloud,
            region: config.region,
            zone: config.zone,
            pool: config.pool,
          },
          capacity: {
            slots: config.slots,
            cpus: availableParallelism(),
            memoryBytes: totalmem(),
            gpus: runner.executionProvider === "cuda" ? 1 : 0,
          },
          executionProvider: runner.executionProvider,
          state: () => agent?.state ?? (config.standby ? "standby" : "active"),
          running: () => loop?.runningTasks() ?? [],
        },
        (hb) => {
          bus.publishHeartbeat(hb);
          metrics.heartbeatSent();
        },
        config.heartbeatIntervalMs,
        (err) => logger.warn({ err }, "heartbeat publish failed"),
      );
      http = await AgentHttp.start(
        config.http,
        {
          nodeId: config.nodeId,
          state: () => agent?.state ?? "standby",
          running: runningCount,
        },
        metrics,
        httpTls,
      );
      agent = new Agent(config, runner, store, inputs, bus, loop, heartbeater, http, logger);
      const self = agent;
      bus.serveControl(
        config.nodeId,
        (req) => {
          const changed = self.promote(req.by ?? "a control request");
          return { state: self.currentState, changed };
        },
        () => self.currentState,
      );
      heartbeater.start();
      loop.start();
      logger.info(
        {
          pool: config.pool,
          slots: config.slots,
          kernelThreads: config.kernelThreads,
          executionProvider: runner.executionProvider,
          state: agent.state,
          directReports: config.directReports,
          earlyHandover: config.directReports && config.earlyHandover,
          storage: store.backend,
          http: http.url,
        },
        "agent started",
      );
      return agent;
    } catch (err) {
      await http?.close().catch(() => undefined);
      await bus.drain().catch(() => undefined);
      await store.close().catch(() => undefined);
      await runner.dispose().catch(() => undefined);
      throw err;
    }
  }

  get currentState(): AgentState {
    return this.state;
  }

  /**
   * Standby → active (SIGUSR2 in main, or a `promote` control request naming `by`). Returns
   * whether it changed anything: an active or draining agent stays as it is.
   */
  promote(by = "SIGUSR2"): boolean {
    if (this.state !== "standby") return false;
    this.state = "active";
    this.loop.resume();
    // At once, not a second later: the beat carries the slots the scheduler may now fill.
    this.heartbeater.beat();
    this.logger.info({ by }, "promoted from standby to active");
    return true;
  }

  /**
   * Graceful stop: stop pulling, finish running work within the grace period (release the rest),
   * announce "draining", drain the NATS connection. Idempotent.
   */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    this.state = "draining";
    this.heartbeater.beat();
    this.logger.info(
      { graceMs: this.config.drainGraceMs },
      "draining: no new work, finishing running items",
    );
    const { released } = await this.loop.stop(this.config.drainGraceMs);
    this.heartbeater.stop();
    // The final beat says "draining" with whatever still runs (nothing, unless released).
    this.heartbeater.beat();
    await this.bus.drain();
    await this.http.close();
    await this.store.close();
    await this.runner.dispose();
    this.logger.info({ released, inputTileCache: this.inputs.stats() }, "agent stopped");
  }
}
