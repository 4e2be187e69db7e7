// The consensus service: one Raft peer holding the manifest FSM, its gRPC server (Raft +
// Manifest), the HTTP API, and the leader-only NATS duties (command ingestion, event publishing,
// heartbeat monitoring) that start on becoming leader and stop on losing leadership.
import * as grpc from "@grpc/grpc-js";
import { apiScheme, certificateExpiries, readApiTlsPair, readApiToken } from "@tessera/config";
import {
  closeGracefully,
  connect,
  isTransientApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManagerWhenReady,
  MessagingError,
  type NatsConnection,
  natsSecurityOptions,
  onReconnect,
  provisionStreams,
} from "@tessera/messaging";
import { type Logger, type LogShipper, reportCertificateExpiry } from "@tessera/observability";
import type { FastifyInstance } from "fastify";
import type { ConsensusConfig } from "../config.js";
import { FailureDetector, ManifestFsm } from "../fsm/index.js";
import { CommandConsumer } from "../ingest/command-consumer.js";
import { commandBytesFor } from "../ingest/completion-command.js";
import { DirectReports } from "../ingest/direct-reports.js";
import { EventPublisher } from "../ingest/event-publisher.js";
import { EventRing } from "../ingest/event-ring.js";
import { HeartbeatMonitor } from "../ingest/heartbeats.js";
import { RecordingStateMachine } from "../ingest/recording-state-machine.js";
import { RaftPeer } from "../peer/index.js";
import type { PeerAddress, RaftPeerApi } from "../peer/types.js";
import { type ClusterTls, loadClusterTls, serverCredentials } from "../transport/cluster-tls.js";
import type { FaultsAdmin, ServiceContext } from "./context.js";
import { flagFailure, ServiceError, ServiceErrorCode } from "./errors.js";
import { FeatureLevelRaiser, joinRefusal } from "./feature-level.js";
import { createHttpServer } from "./http.js";
import { LeaderDirectory } from "./leader.js";
import { ManifestClient } from "./manifest-client.js";
import { registerManifestService } from "./manifest-grpc.js";
import { ConsensusMetrics } from "./metrics.js";
import { Proposer } from "./proposer.js";
import { fsmReadModel } from "./read-model.js";

export interface ServiceHandle {
  readonly peer: RaftPeerApi;
  readonly context: ServiceContext;
  readonly http: FastifyInstance;
  /** Bound addresses (ports resolved when 0 was asked for). */
  readonly grpcAddress: string;
  readonly httpAddress: string;
  /** Leadership transfer (optional), stop leader duties, close gRPC/HTTP/NATS. */
  stop(opts?: { transfer?: boolean }): Promise<void>;
  /** The peer stopped itself after an unrecoverable error (storage, FSM): the process should exit. */
  onFatal(listener: (err: unknown) => void): () => void;
}

function bindGrpc(
  server: grpc.Server,
  hostPort: string,
  tls: ClusterTls | undefined,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(hostPort, serverCredentials(tls), (err, port) =>
      err ? reject(err) : resolve(port),
    );
  });
}

/** Starts everything; resolves once the gRPC and HTTP servers listen. */
export async function startConsensusService(
  config: ConsensusConfig,
  logger: Logger,
  shipper?: LogShipper,
): Promise<ServiceHandle> {
  const log = logger.child({ component: "service" });
  // NATS connects in the background (below), so check its credential and TLS files now: a
  // missing or malformed one fails the start naming its flag instead of every retry.
  if (config.natsServers) {
    natsSecurityOptions(
      config.natsSecurity,
      config.natsServers.some((s) => s.startsWith("tls://")),
    );
  }
  // Mutual TLS on the gRPC port (Raft and the Manifest API), files checked before anything binds.
  const tls = config.clusterTls ? loadClusterTls(config.clusterTls) : undefined;
  const apiToken =
    config.apiTokenFile === undefined ? undefined : readApiToken(config.apiTokenFile, flagFailure);
  const httpsFiles = config.apiTls ? readApiTlsPair(config.apiTls, flagFailure) : undefined;
  const metrics = new ConsensusMetrics(config.id);
  reportCertificateExpiry(metrics.registry, log, certificateExpiries(config, flagFailure));
  const ring = new EventRing(config.eventRing);
  const fsm = new ManifestFsm({ featureLevel: config.featureLevel });
  metrics.trackManifest(() => fsm.listJobs());
  metrics.trackFeatureLevel(() => fsm.featureLevel);
  const stateMachine = new RecordingStateMachine(fsm, ring);

  const server = new grpc.Server({
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  });
  const grpcPort = await bindGrpc(server, config.grpcListen, tls).catch((err: unknown) => {
    throw new ServiceError(
      ServiceErrorCode.Config,
      `--grpc ${config.grpcListen}: cannot listen (${(err as Error).message})`,
      { cause: err },
    );
  });

  const peers: PeerAddress[] = config.peers.map((p) => ({ id: p.id, grpc: p.grpc, http: p.http }));
  if (!peers.some((p) => p.id === config.id)) {
    peers.push({ id: config.id, grpc: config.self.grpc, http: config.self.http });
  }
  const timing = {
    ...(config.raft.tickMs !== undefined ? { tickMs: config.raft.tickMs } : {}),
    ...(config.raft.electionTicks !== undefined ? { electionTick: config.raft.electionTicks } : {}),
    ...(config.raft.heartbeatTicks !== undefined
      ? { heartbeatTick: config.raft.heartbeatTicks }
      : {}),
    ...(config.raft.snapshotEntries !== undefined
      ? { snapshotEvery: config.raft.snapshotEntries }
      : {}),
    ...(config.raft.snapshotKeep !== undefined ? { snapshotKeep: config.raft.snapshotKeep } : {}),
  };
  const peer = await RaftPeer.start({
    id: config.id,
    peers,
    join: config.join,
    dataDir: config.dataDir,
    stateMachine,
    server,
    tls,
    logger,
    metrics: metrics.registry,
    timing,
    faults: {
      default: config.faults.default,
      links: Object.fromEntries(Object.entries(config.faults.links)),
    },
  });

  const directory = new LeaderDirectory(peer, config.peers, apiScheme(config.apiTls));
  const proposer = new Proposer(peer, directory, metrics);
  // Members' advertised feature levels come from their gRPC Info (one short attempt each).
  const infoClient = new ManifestClient({
    peers: [config.self.grpc],
    attemptTimeoutMs: 1_000,
    ...(tls ? { tls } : {}),
  });
  const advertisedAt = async (grpc: string) => (await infoClient.info(grpc)).featureLevel;
  const levels = new FeatureLevelRaiser({
    peer,
    directory,
    proposer,
    level: () => fsm.featureLevel,
    advertisedAt,
    logger,
  });
  const transport = peer;
  const faults: FaultsAdmin = {
    get: () => transport.faults(),
    set: (body: unknown) => {
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new ServiceError(
          ServiceErrorCode.BadRequest,
          'body: must be {default?: {delayMs, jitterMs, lossRate}, links?: {"<peerId>": {...}}}',
        );
      }
      const b = body as { default?: unknown; links?: unknown };
      for (const k of Object.keys(b)) {
        if (k !== "default" && k !== "links")
          throw new ServiceError(
            ServiceErrorCode.BadRequest,
            `body/${k}: is not an allowed field (default, links)`,
          );
      }
      if (b.default !== undefined)
        transport.setAllFaults(b.default as Parameters<typeof transport.setAllFaults>[0]);
      if (b.links !== undefined) {
        if (typeof b.links !== "object" || b.links === null)
          throw new ServiceError(
            ServiceErrorCode.BadRequest,
            "body/links: must be an object keyed by peer id",
          );
        for (const [k, v] of Object.entries(b.links)) {
          transport.setLinkFaults(Number(k), v as Parameters<typeof transport.setLinkFaults>[1]);
        }
      }
      return transport.faults();
    },
  };
  let nc: NatsConnection | undefined;
  let natsReady = false;
  let consumer: CommandConsumer | undefined;
  let direct: DirectReports | undefined;
  let publisher: EventPublisher | undefined;
  let heartbeats: HeartbeatMonitor | undefined;
  // Leader duties follow leadership; transitions are serialised so start/stop never overlap.
  let duties = Promise.resolve();
  let dutiesOn = false;
  let stopping = false;
  const setDuties = (on: boolean) => {
    duties = duties.then(async () => {
      if (on === dutiesOn || (on && stopping)) return;
      dutiesOn = on;
      if (on) {
        log.info({ term: peer.status().term }, "became leader: starting leader duties");
        await publisher
          ?.start()
          .catch((err: unknown) => log.error({ err }, "event publisher failed to start"));
        consumer?.start();
        direct?.start();
        heartbeats?.start();
      } else {
        log.info({ term: peer.status().term }, "not leader: stopping leader duties");
        heartbeats?.stop();
        direct?.stop();
        await consumer?.stop();
        await publisher?.stop();
      }
    });
  };
  // NATS comes up in the background: a consensus peer must serve Raft and the client APIs even
  // while the bus is down; leader duties begin once it is reachable.
  const startNats = async (servers: readonly string[]): Promise<void> => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        nc = await connect({
          servers,
          name: `consensus:${config.id}`,
          logger,
          connectTimeoutMs: 2_000,
          security: config.natsSecurity,
        });
        break;
      } catch (err) {
        // Refused credentials: the peer keeps serving Raft without the bus (as while NATS is
        // down) but says so as an error, and asks less often than for a server still starting.
        if (err instanceof MessagingError && err.code === "TESSERA_E_MESSAGING_AUTH") {
          log.error({ err: err.message, attempt }, "NATS refused this peer; retrying");
          await new Promise((r) => setTimeout(r, 5_000));
          continue;
        }
        log.warn({ err: (err as Error).message, attempt }, "NATS not reachable yet; retrying");
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
    if (!nc) return;
    if (stopping) {
      await nc.close();
      return;
    }
    shipper?.attach(nc);
    const js = jetstream(nc);
    // A JetStream cluster starting beside this peer may not answer for a while; this peer keeps
    // asking (it serves Raft meanwhile and reports `nats: connecting` on /readyz).
    let jsm: JetStreamManager | undefined;
    for (let attempt = 1; !jsm && !stopping; attempt++) {
      jsm = await jetstreamManagerWhenReady(nc, 10_000).catch((err: unknown) => {
        if (!isTransientApiError(err)) throw err;
        log.warn({ err: (err as Error).message, attempt }, "JetStream not answering yet; retrying");
        return undefined;
      });
    }
    if (!jsm) return;
    try {
      await provisionStreams(jsm, { replicas: config.replicas });
    } catch (err) {
      // Another peer (or the operator) may own a different layout; ingestion still works when the
      // streams exist, so this is logged rather than fatal.
      log.warn({ err }, "cannot provision JetStream streams");
    }
    consumer = new CommandConsumer({
      js,
      jsm,
      proposer,
      metrics,
      logger,
      durable: config.ingest.durable,
      batchSize: config.ingest.batchSize,
      ackWaitMs: config.ingest.ackWaitMs,
      toCommand: commandBytesFor,
    });
    direct = new DirectReports({
      nc,
      proposer,
      previewHandover: (cmd) => fsm.previewHandover(cmd),
      metrics,
      logger,
    });
    publisher = new EventPublisher({ js, jsm, ring, metrics, logger });
    // After a NATS outage the event pipeline restarts at once instead of timing out first.
    onReconnect(nc, () => publisher?.reconnected());
    const period = config.heartbeatIntervalMs;
    heartbeats = new HeartbeatMonitor({
      nc,
      proposer,
      // Scaled to the agents' heartbeat period: at 1 s, suspicion after ≈1.6 s, at most 1.8 s.
      detector: new FailureDetector({
        expectedIntervalMs: period,
        minStdDevMs: Math.max(1, period / 10),
        maxSilenceMs: Math.round(period * 1.8),
      }),
      logger,
      peerId: config.id,
      checkIntervalMs: Math.max(10, Math.round(period / 10)),
      // Nodes the manifest lists as active are watched from the start of a leadership term, so
      // one that died during the election is still declared failed.
      knownAlive: () =>
        fsm
          .listNodes()
          .filter((n) => n.state === "active")
          .map((n) => n.nodeId),
    });
    natsReady = true;
    // Leadership may have arrived while NATS was not there yet (duties then started nothing).
    duties = duties.then(() => {
      dutiesOn = false;
    });
    setDuties(peer.isLeader());
  };
  const context: ServiceContext = {
    self: config.self,
    peer,
    proposer,
    directory,
    readModel: fsmReadModel(fsm),
    ring,
    metrics,
    logger,
    faults,
    ringCoveredFrom: () => ring.coveredFrom,
    natsState: () => (!config.natsServers ? "off" : natsReady ? "ready" : "connecting"),
  };
  registerManifestService(server, context);

  const http = await createHttpServer(context, {
    ...(httpsFiles !== undefined ? { tls: httpsFiles } : {}),
    ...(apiToken !== undefined
      ? {
          apiToken,
          onUnauthorized: (reason, req) => {
            metrics.httpUnauthorized.inc({ reason });
            log.debug({ reason, from: req.ip, method: req.method, url: req.url }, "HTTP 401");
          },
        }
      : {}),
    admin: {
      addPeer: async (body) => {
        const b = body as { id?: unknown; grpc?: unknown; http?: unknown } | undefined;
        if (!b || typeof b.id !== "number" || !Number.isSafeInteger(b.id) || b.id < 1) {
          throw new ServiceError(ServiceErrorCode.BadRequest, "id: must be a positive peer id");
        }
        if (typeof b.grpc !== "string" || !/^[^\s:]+:\d+$/.test(b.grpc)) {
          throw new ServiceError(ServiceErrorCode.BadRequest, "grpc: must be host:port");
        }
        if (
          b.http !== undefined &&
          (typeof b.http !== "string" || !/^https?:\/\/[^\s/]+\/?$/.test(b.http))
        ) {
          throw new ServiceError(
            ServiceErrorCode.BadRequest,
            "http: must be http://host:port (or https://)",
          );
        }
        const address: PeerAddress = { id: b.id, grpc: b.grpc, http: b.http as string | undefined };
        const advertised = await advertisedAt(address.grpc).catch(() => undefined);
        const refusal = joinRefusal(address.id, fsm.featureLevel.cluster, advertised);
        if (refusal) throw refusal;
        directory.remember(address);
        await peer.addPeer(address, true);
        return { ok: true, members: peer.status().members };
      },
      removePeer: async (id) => {
        await peer.removePeer(id);
        directory.forget(id);
        return { ok: true, members: peer.status().members };
      },
      transfer: async (to) => {
        await peer.transferLeadership(to);
        return { ok: true, leaderId: peer.status().leaderId };
      },
    },
  });
  const [httpHost, httpPortText] = splitHostPort(config.httpListen);
  await http.listen({ host: httpHost, port: Number(httpPortText) });
  const httpPort = (http.server.address() as { port: number }).port;

  // ---- NATS: ingestion, events, heartbeats (leader only) ----
  const offLeader = peer.onLeaderChange((leaderId, term) => {
    log.info({ leaderId, term }, "leader changed");
    setDuties(leaderId === config.id);
    if (leaderId === config.id) levels.start();
    else levels.stop();
  });
  if (peer.isLeader()) {
    setDuties(true);
    levels.start();
  }
  const natsStarted = config.natsServers
    ? startNats(config.natsServers).catch((err: unknown) =>
        log.error({ err }, "NATS setup failed; no ingestion, events or heartbeats"),
      )
    : Promise.resolve();

  const grpcAddress = `${splitHostPort(config.grpcListen)[0]}:${grpcPort}`;
  const httpAddress = `${httpHost}:${httpPort}`;
  log.info(
    {
      grpc: grpcAddress,
      http: `${apiScheme(config.apiTls)}://${httpAddress}`,
      nats: config.natsServers ?? null,
    },
    "consensus peer started",
  );

  return {
    peer,
    context,
    http,
    grpcAddress,
    httpAddress,
    onFatal: (listener) => peer.onFatal(listener),
    async stop(opts = {}) {
      stopping = true;
      // Not awaited: connect() retries forever while NATS is down (startNats closes it if it
      // ever succeeds after this point).
      void natsStarted;
      if (opts.transfer && peer.isLeader()) {
        await peer
          .transferLeadership()
          .catch((err: unknown) => log.warn({ err }, "leadership transfer failed"));
      }
      offLeader();
      levels.stop();
      infoClient.close();
      setDuties(false);
      // Leader duties wait on NATS (the publisher reading where the stream ends, the command
      // consumer's pull); with NATS not answering while this peer stops (an uninstall deletes
      // every pod at once) they held the exit past the grace: bounded, then NATS is closed
      // under them below.
      let dutiesTimer: NodeJS.Timeout | undefined;
      const dutiesStopped = await Promise.race([
        duties.then(() => true),
        new Promise<boolean>((resolve) => {
          dutiesTimer = setTimeout(() => resolve(false), 2_000);
        }),
      ]);
      clearTimeout(dutiesTimer);
      if (!dutiesStopped) log.warn("leader duties did not stop within 2 s (NATS not answering?)");
      await http.close().catch(() => undefined);
      await peer
        .stop({ transfer: false })
        .catch((err: unknown) => log.warn({ err }, "peer stop failed"));
      // Open Watch streams would hold tryShutdown forever: force after a short grace.
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1_000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      if (nc) {
        shipper?.detach();
        // drain() waits for the server; with NATS down it would hold the exit, so bound it.
        const conn = nc;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          closeGracefully(conn),
          new Promise<void>((r) => {
            timer = setTimeout(() => {
              void conn.close().finally(r);
            }, 2_000);
          }),
        ]);
        clearTimeout(timer);
      }
      log.info("consensus peer stopped");
    },
  };
}

function splitHostPort(hostPort: string): [string, string] {
  const i = hostPort.lastIndexOf(":");
  return [hostPort.slice(0, i).replace(/^\[|\]$/g, ""), hostPort.slice(i + 1)];
}
