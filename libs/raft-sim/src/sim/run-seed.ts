import { ConfChangeType } from "@tessera/raft";
import { InvalidSimOptionError } from "../errors.js";
import { Rng } from "../rng.js";
import { Cluster } from "./cluster.js";
import { drawProfile, type FaultProfile } from "./fault-profile.js";
import { type InvariantName, InvariantViolation } from "./invariants.js";
import { CRASH_POINTS, type CrashPoint } from "./sim-node.js";

export interface SeedOptions {
  readonly seed: number;
  /** Steps with faults before the network is healed and the cluster settles. Default 1000. */
  readonly steps?: number;
  /** Initial voters: 3 or 5. Default 3. */
  readonly nodes?: number;
  /** Record a human-readable trace (for replaying a failing seed). */
  readonly trace?: boolean;
  /** Steps allowed for settling after the faulty phase. Default 600. */
  readonly settleSteps?: number;
  /** How many trace lines a failure keeps (when tracing). Default 80. */
  readonly traceLines?: number;
  /**
   * See ClusterOptions.bootstrap; "mixed" (the default) lets each seed pick one, so a sweep
   * covers both joining paths (log replay and InstallSnapshot).
   */
  readonly bootstrap?: Bootstrap;
  /** Where mid-Ready crashes may strike. Default: all of CRASH_POINTS. */
  readonly crashPoints?: readonly CrashPoint[];
}

export type Bootstrap = "conf-state" | "snapshot" | "mixed";

export interface SimFailure {
  readonly seed: number;
  readonly step: number;
  readonly invariant: InvariantName;
  readonly message: string;
  /** Last trace lines before the failure (only when tracing). */
  readonly trace: readonly string[];
}

export interface SeedResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure?: SimFailure;
  /** Steps actually simulated (faulty phase + settling). */
  readonly steps: number;
  /** Digest of the whole run: equal for two runs of one seed. */
  readonly digest: string;
  readonly stats: {
    readonly messagesSent: number;
    readonly messagesDropped: number;
    readonly elections: number;
    readonly crashes: number;
    readonly partitions: number;
    readonly transfers: number;
    readonly confChanges: number;
    readonly opsCompleted: number;
    readonly opsUnknown: number;
    readonly committed: number;
  };
}

export function validateSeedOptions(o: SeedOptions): Required<
  Omit<SeedOptions, "trace" | "bootstrap" | "traceLines" | "crashPoints">
> & {
  trace: boolean;
  crashPoints: readonly CrashPoint[];
} {
  if (!Number.isSafeInteger(o.seed) || o.seed < 0) {
    throw new InvalidSimOptionError(
      "seed",
      `must be a non-negative integer, got ${String(o.seed)}`,
    );
  }
  const steps = o.steps ?? 1000;
  if (!Number.isSafeInteger(steps) || steps < 1) {
    throw new InvalidSimOptionError("steps", `must be a positive integer, got ${String(steps)}`);
  }
  const nodes = o.nodes ?? 3;
  if (nodes !== 3 && nodes !== 5)
    throw new InvalidSimOptionError("nodes", `must be 3 or 5, got ${String(nodes)}`);
  const settleSteps = o.settleSteps ?? 600;
  if (!Number.isSafeInteger(settleSteps) || settleSteps < 1) {
    throw new InvalidSimOptionError(
      "settleSteps",
      `must be a positive integer, got ${String(settleSteps)}`,
    );
  }
  const crashPoints = o.crashPoints ?? CRASH_POINTS;
  for (const p of crashPoints) {
    if (!CRASH_POINTS.includes(p)) {
      throw new InvalidSimOptionError(
        "crashPoints",
        `unknown crash point "${String(p)}" (known: ${CRASH_POINTS.join(", ")})`,
      );
    }
  }
  return { seed: o.seed, steps, nodes, settleSteps, trace: o.trace ?? false, crashPoints };
}

/**
 * One seed, one exact run: a cluster under random faults for `steps` steps with invariants checked
 * at every Ready, then healed and settled, then checked for convergence and linearizability.
 */
export function runSeed(options: SeedOptions): SeedResult {
  const o = validateSeedOptions(options);
  const profileRng = new Rng(o.seed).fork("profile");
  const profile = drawProfile(profileRng);
  const mode = options.bootstrap ?? "mixed";
  const bootstrap =
    mode !== "mixed"
      ? mode
      : new Rng(o.seed).fork("bootstrap").chance(0.5)
        ? "snapshot"
        : "conf-state";
  const cluster = new Cluster({
    seed: o.seed,
    nodes: o.nodes,
    node: profile.node,
    client: profile.client,
    trace: o.trace,
    traceLimit: Math.max(400, options.traceLines ?? 0),
    bootstrap,
  });
  cluster.net.setFaults(profile.link);
  const faults = new FaultInjector(
    cluster,
    profile,
    profileRng.fork("faults"),
    o.nodes,
    o.crashPoints,
  );
  cluster.trace(`profile ${JSON.stringify(profile)} bootstrap ${bootstrap}`);

  let failure: SimFailure | undefined;
  try {
    for (let i = 0; i < o.steps; i++) {
      faults.step();
      cluster.step();
    }
    cluster.trace(`settling: ${cluster.describe()}`);
    if (!cluster.settle(o.settleSteps)) {
      throw new InvariantViolation(
        "convergence",
        `cluster did not settle within ${o.settleSteps} steps: ${cluster.describe()}; ${cluster.describeLeader()}`,
      );
    }
    cluster.checkConvergence();
    cluster.checkLinearizable();
  } catch (e) {
    if (!(e instanceof InvariantViolation)) throw e;
    failure = {
      seed: o.seed,
      step: cluster.now,
      invariant: e.invariant,
      message: e.message,
      trace: cluster.traceTail(options.traceLines ?? 80),
    };
  }
  const ops = cluster.history.ops;
  let unknown = 0;
  for (const op of ops) if (op.output === undefined) unknown++;
  return {
    seed: o.seed,
    ok: failure === undefined,
    ...(failure ? { failure } : {}),
    steps: cluster.now,
    digest: cluster.digest.toString(16).padStart(8, "0"),
    stats: {
      messagesSent: cluster.net.stats.sent,
      messagesDropped: cluster.net.stats.dropped + cluster.net.stats.blockedByPartition,
      elections: cluster.checker.leaderElections,
      crashes: cluster.stats.crashes,
      partitions: faults.partitions,
      transfers: faults.transfers,
      confChanges: cluster.stats.confChanges,
      opsCompleted: ops.length - unknown,
      opsUnknown: unknown,
      committed: cluster.checker.committedIndex(),
    },
  };
}

/** Random crashes, restarts, partitions, leadership transfers and membership changes. */
class FaultInjector {
  private readonly restartAt = new Map<number, number>();
  private healAt = 0;
  partitions = 0;
  transfers = 0;

  constructor(
    private readonly c: Cluster,
    private readonly p: FaultProfile,
    private readonly rng: Rng,
    private readonly initialNodes: number,
    private readonly crashPoints: readonly CrashPoint[],
  ) {}

  step(): void {
    const c = this.c;
    const now = c.now + 1;
    for (const [id, at] of this.restartAt) {
      if (at <= now) {
        this.restartAt.delete(id);
        c.restart(id);
      }
    }
    if (this.healAt !== 0 && now >= this.healAt) {
      c.net.heal();
      this.healAt = 0;
      c.trace("heal");
    }
    if (this.p.crashRate > 0 && this.rng.chance(this.p.crashRate)) this.crashOne(now);
    if (this.p.partitionRate > 0 && this.healAt === 0 && this.rng.chance(this.p.partitionRate)) {
      this.partition(now);
    }
    if (this.p.transferRate > 0 && this.rng.chance(this.p.transferRate)) this.transfer();
    if (this.p.membershipRate > 0 && this.rng.chance(this.p.membershipRate)) this.membership();
  }

  private crashOne(now: number): void {
    const c = this.c;
    const live = c.liveNodes();
    const down = c.nodeIds().length - live.length;
    // Mostly keep a majority up so the run makes progress; sometimes take down more.
    if (live.length === 0 || (down >= (this.initialNodes - 1) / 2 && !this.rng.chance(0.2))) return;
    const victim = this.rng.pick(live);
    if (this.rng.chance(0.5) && this.crashPoints.length > 0) {
      const point = this.rng.pick(this.crashPoints);
      c.crashDuringReady(victim.id, point);
      c.trace(`arm crash n${victim.id} at ${point}`);
    } else {
      c.crash(victim.id);
    }
    this.restartAt.set(victim.id, now + this.rng.range(5, 80));
  }

  private partition(now: number): void {
    const c = this.c;
    const ids = c.nodeIds();
    const kind = this.rng.int(3);
    if (kind === 0) {
      // Symmetric split into a minority and the rest.
      const shuffled = [...ids];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j] as number, shuffled[i] as number];
      }
      const k = this.rng.range(1, Math.max(1, Math.floor(shuffled.length / 2)));
      c.net.partition([shuffled.slice(0, k), shuffled.slice(k)]);
      c.trace(
        `partition ${JSON.stringify(shuffled.slice(0, k))} | ${JSON.stringify(shuffled.slice(k))}`,
      );
    } else if (kind === 1) {
      const l = c.leader();
      const victim = l?.id ?? this.rng.pick(ids);
      c.net.isolate(victim, ids);
      c.trace(`isolate n${victim}`);
    } else {
      // Asymmetric: a few one-way link failures.
      const links = this.rng.range(1, ids.length);
      const desc: string[] = [];
      for (let i = 0; i < links; i++) {
        const a = this.rng.pick(ids);
        const b = this.rng.pick(ids);
        if (a === b) continue;
        c.net.blockLink(a, b);
        desc.push(`${a}->${b}`);
      }
      c.trace(`block links ${desc.join(" ")}`);
    }
    this.partitions++;
    this.healAt = now + this.rng.range(10, 150);
  }

  private transfer(): void {
    const l = this.c.leader();
    if (l?.raw == null) return;
    const voters = l.confState.voters.filter((v) => v !== l.id);
    if (voters.length === 0) return;
    const to = this.rng.pick(voters);
    this.c.trace(`transfer leadership n${l.id} -> n${to}`);
    l.raw.transferLeadership(to);
    this.transfers++;
  }

  private membership(): void {
    const c = this.c;
    const l = c.leader();
    if (l === undefined) return;
    const cs = l.confState;
    const learner = cs.learners[0];
    if (learner !== undefined) {
      c.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: learner });
      return;
    }
    if (cs.voters.length < 5 && (cs.voters.length <= 3 || this.rng.chance(0.5))) {
      const n = c.spawnNode();
      if (!c.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: n.id })) {
        // Nobody will ever add it: shut the empty server down again.
        n.removed = true;
        n.crash();
      }
      return;
    }
    if (cs.voters.length > 3) {
      c.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: this.rng.pick(cs.voters) });
    }
  }
}
