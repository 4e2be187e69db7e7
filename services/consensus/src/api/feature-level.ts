// Leader duty: raise the manifest's feature level once every member can apply it.
//
// A rolling upgrade leaves old and new binaries side by side; the new commands stay refused (on
// every peer alike) until the leader has heard from each member — voters and learners, itself
// included — that it supports the new level, and commits `cluster-level`. A member that does not
// answer holds the level where it is: unknown is not "supports". See libs/protocol
// src/feature-levels.ts for what each level adds.
import type { Logger } from "@tessera/observability";
import { BASE_FEATURE_LEVEL } from "@tessera/protocol";
import type { RaftPeerApi } from "../peer/types.js";
import { encodeEnvelope, envelopeFor } from "./envelope.js";
import { ServiceError, ServiceErrorCode } from "./errors.js";
import type { LeaderDirectory } from "./leader.js";
import type { Proposer } from "./proposer.js";

/**
 * The level to commit next, or undefined to wait: the lowest level the members advertise, when
 * every member answered and that is above the committed level. An advertised 0 (a peer that
 * predates levels) counts as the base level.
 */
export function nextFeatureLevel(
  committed: number,
  advertised: readonly (number | undefined)[],
): number | undefined {
  if (advertised.length === 0) return undefined;
  let lowest = Number.POSITIVE_INFINITY;
  for (const level of advertised) {
    if (level === undefined) return undefined;
    lowest = Math.min(lowest, Math.max(level, BASE_FEATURE_LEVEL));
  }
  return lowest > committed ? lowest : undefined;
}

/**
 * Why a new member must not join, or undefined: it advertises a level below the committed one,
 * so it would stop at its first entry (or snapshot) and, as a voter, count towards quorum while
 * it cannot apply anything. A member that did not answer (`advertised` undefined) is let through:
 * it is checked again when it applies.
 */
export function joinRefusal(
  id: number,
  committed: number,
  advertised: number | undefined,
): ServiceError | undefined {
  if (advertised === undefined) return undefined;
  const level = Math.max(advertised, BASE_FEATURE_LEVEL);
  if (level >= committed) return undefined;
  return new ServiceError(
    ServiceErrorCode.FeatureLevel,
    `peer ${id} supports manifest feature level ${level}, the cluster runs at ${committed}: upgrade it (or raise its --feature-level) before adding it`,
  );
}

export interface FeatureLevelRaiserOptions {
  readonly peer: RaftPeerApi;
  readonly directory: LeaderDirectory;
  readonly proposer: Proposer;
  /** The manifest's committed level and this peer's own, as last applied here. */
  readonly level: () => { readonly cluster: number; readonly supported: number };
  /** A member's advertised level (gRPC Info) at its gRPC address; rejects when it does not answer. */
  readonly advertisedAt: (grpc: string) => Promise<number>;
  readonly logger: Logger;
  /** Between checks while the level can still go up (default 1000 ms). */
  readonly intervalMs?: number;
}

export class FeatureLevelRaiser {
  private readonly log: Logger;
  private readonly clientId: string;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private checking = false;

  constructor(private readonly o: FeatureLevelRaiserOptions) {
    this.log = o.logger.child({ component: "feature-level" });
    this.clientId = `level-${o.peer.id}-${Date.now().toString(36)}`;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => void this.check(), ms);
    this.timer.unref();
  }

  /** One round: ask every member, commit the level they all support; again later if not done. */
  private async check(): Promise<void> {
    if (!this.running || this.checking) return;
    this.checking = true;
    try {
      const { cluster, supported } = this.o.level();
      // Nothing this peer could raise the level to: the next leader (or a restart) will.
      if (cluster >= supported || !this.o.peer.isLeader()) return;
      const advertised = await Promise.all(
        this.o.peer.status().members.map(async (m): Promise<number | undefined> => {
          if (m.id === this.o.peer.id) return supported;
          const grpc = this.o.directory.address(m.id)?.grpc;
          if (!grpc) return undefined;
          return this.o.advertisedAt(grpc).catch(() => undefined);
        }),
      );
      const next = nextFeatureLevel(cluster, advertised);
      if (next === undefined || !this.running || !this.o.peer.isLeader()) return;
      const seq = ++this.seq;
      const bytes = encodeEnvelope(
        envelopeFor({ type: "cluster-level", level: next }, this.clientId, seq, seq - 1),
      );
      const r = await this.o.proposer.propose(bytes, "internal");
      if (r.parsed.ok) {
        this.log.info(
          { featureLevel: next, from: cluster, index: r.index },
          "manifest feature level raised",
        );
      } else {
        this.log.warn(
          { featureLevel: next, code: r.parsed.code, reason: r.parsed.reason },
          "feature level raise refused",
        );
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "feature level check failed; trying again");
    } finally {
      this.checking = false;
      const { cluster, supported } = this.o.level();
      if (cluster < supported) this.schedule(this.o.intervalMs ?? 1_000);
    }
  }
}
