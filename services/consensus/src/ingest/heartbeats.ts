// Leader-only: follows agent heartbeats (`tessera.hb.<nodeId>`, core NATS), keeps the node
// registry in the manifest current (node-upsert on join or change) and declares silent nodes
// failed (node-failed) using the pure failure detector of fsm/. Detection runs on the leader's
// clock; the decision enters the log as a command, so every peer agrees on it.
import type { NatsConnection } from "@tessera/messaging";
import type { Logger } from "@tessera/observability";
import { type Heartbeat, heartbeatCodec, type ManifestCommand, SUBJECTS } from "@tessera/protocol";
import { encodeEnvelope, envelopeFor } from "../api/envelope.js";
import type { Proposer } from "../api/proposer.js";

/** The failure detector as the monitor uses it (fsm/failure-detector.ts implements it). */
export interface HeartbeatDetector {
  /** Records a heartbeat from `nodeId` received at `now` (ms). */
  heartbeat(nodeId: string, now: number): void;
  /** Nodes considered failed at `now`, with a human reason. */
  suspects(now: number): readonly { nodeId: string; reason: string }[];
  /** Forget a node (failed and reported, or removed). */
  remove(nodeId: string): void;
  /** The monitor heard nobody until `now` (its own NATS link was down): silences restart. */
  resume(now: number): void;
}

export interface HeartbeatMonitorOptions {
  nc: NatsConnection;
  proposer: Proposer;
  detector: HeartbeatDetector;
  logger: Logger;
  /** Peer id, for the session client id. */
  peerId: number;
  /** How often suspicion is evaluated (default 100 ms). */
  checkIntervalMs?: number;
  /** Nodes the manifest already lists as alive: watched from the start even if they never beat. */
  knownAlive?: () => readonly string[];
}

/** What about a heartbeat makes a node-upsert worth a log entry. */
function fingerprint(hb: Heartbeat): string {
  return JSON.stringify([hb.labels, hb.capacity, hb.executionProvider]);
}

export class HeartbeatMonitor {
  private sub: ReturnType<NatsConnection["subscribe"]> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** nodeId → fingerprint last proposed in this leadership term. */
  private readonly upserted = new Map<string, string>();
  /** Nodes declared failed in this term (not re-declared until they beat again). */
  private readonly failed = new Set<string>();
  private readonly clientId: string;
  private seq = 0;
  private acked = 0;
  private readonly done = new Set<number>();
  private readonly log: Logger;
  /** Since when this peer's own NATS link is down (undefined while connected). */
  private busDownSince: number | undefined;
  private watchingBus = false;
  invalid = 0;

  constructor(private readonly o: HeartbeatMonitorOptions) {
    this.clientId = `hb-${o.peerId}-${Date.now().toString(36)}`;
    this.log = o.logger.child({ component: "heartbeats" });
  }

  get running(): boolean {
    return this.sub !== undefined;
  }

  start(): void {
    if (this.sub) return;
    const now = Date.now();
    for (const nodeId of this.o.knownAlive?.() ?? []) this.o.detector.heartbeat(nodeId, now);
    this.sub = this.o.nc.subscribe(SUBJECTS.heartbeatAll, {
      callback: (err, msg) => {
        if (err) {
          this.log.warn({ err }, "heartbeat subscription error");
          return;
        }
        let hb: Heartbeat;
        try {
          hb = heartbeatCodec.decode(msg.data);
        } catch (e) {
          this.invalid++;
          this.log.debug(
            { subject: msg.subject, reason: (e as Error).message },
            "invalid heartbeat ignored",
          );
          return;
        }
        this.onHeartbeat(hb, Date.now());
      },
    });
    this.timer = setInterval(() => this.check(Date.now()), this.o.checkIntervalMs ?? 100);
    this.watchBus();
    this.log.info("heartbeat monitor started");
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.upserted.clear();
    this.failed.clear();
  }

  private onHeartbeat(hb: Heartbeat, now: number): void {
    this.o.detector.heartbeat(hb.nodeId, now);
    const fp = fingerprint(hb);
    const wasFailed = this.failed.delete(hb.nodeId);
    if (!wasFailed && this.upserted.get(hb.nodeId) === fp) return;
    this.upserted.set(hb.nodeId, fp);
    this.propose(
      {
        type: "node-upsert",
        nodeId: hb.nodeId,
        labels: hb.labels,
        capacity: hb.capacity,
        executionProvider: hb.executionProvider,
        at: now,
      },
      () => this.upserted.delete(hb.nodeId),
    );
  }

  /**
   * Heartbeats travel over this peer's own NATS connection: while it is down every agent goes
   * silent at once, and that says nothing about the agents. Suspicion pauses for the outage and
   * every silence restarts when the link is back (a NATS restart otherwise failed every agent
   * and threw away their running attempts).
   */
  private watchBus(): void {
    if (this.watchingBus) return;
    this.watchingBus = true;
    void (async () => {
      for await (const s of this.o.nc.status()) {
        if (s.type === "disconnect") {
          this.busDownSince ??= Date.now();
        } else if (s.type === "reconnect" && this.busDownSince !== undefined) {
          const now = Date.now();
          this.log.info(
            { outageMs: now - this.busDownSince },
            "NATS link back: agent silences restart now",
          );
          this.busDownSince = undefined;
          this.o.detector.resume(now);
        }
      }
    })().catch((err: unknown) => this.log.warn({ err }, "NATS status watch ended"));
  }

  private check(now: number): void {
    if (this.busDownSince !== undefined) return;
    for (const { nodeId, reason } of this.o.detector.suspects(now)) {
      if (this.failed.has(nodeId)) continue;
      this.failed.add(nodeId);
      this.upserted.delete(nodeId);
      this.o.detector.remove(nodeId);
      this.log.warn({ nodeId, reason }, "node suspected failed");
      this.propose({ type: "node-failed", nodeId, reason }, () => this.failed.delete(nodeId));
    }
  }

  /** Proposes on this monitor's own session; `onFail` undoes local bookkeeping so it is retried. */
  private propose(cmd: ManifestCommand, onFail: () => void): void {
    const seq = ++this.seq;
    const bytes = encodeEnvelope(envelopeFor(cmd, this.clientId, seq, this.acked));
    this.o.proposer
      .propose(bytes, "heartbeat")
      .then(
        (r) => {
          if (!r.parsed.ok) {
            this.log.info(
              {
                nodeId: (cmd as { nodeId?: string }).nodeId,
                type: cmd.type,
                code: r.parsed.code,
                reason: r.parsed.reason,
              },
              "node command rejected",
            );
          }
        },
        (err: unknown) => {
          onFail();
          this.log.warn(
            { err: (err as Error).message, type: cmd.type },
            "node command not committed",
          );
        },
      )
      .finally(() => {
        this.done.add(seq);
        while (this.done.has(this.acked + 1)) this.done.delete(++this.acked);
      });
  }
}
