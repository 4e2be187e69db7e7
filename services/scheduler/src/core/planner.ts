// The planner: one pure pass from (view, observed load, time, policies) to decisions.
//
//   expire    live attempts on a failed node, bound to a live node that does not hold them
//             (its heartbeats stopped listing them), or running past their learned deadline
//   fail      an attempt whose task has used up its attempts: attempt-fail retryable:false
//             with a reason a person can act on (the manifest then fails the job)
//   reset     a completed partial that a reduce found corrupt (TESSERA_E_STORAGE_CHECKSUM)
//   start     new attempts for runnable tasks, placed on nodes with free slots
//   speculate a duplicate attempt for a straggler, on another node, with spare slots only
//   rescue    right after a node failed, a duplicate for an attempt no heartbeat places anywhere
//            (the dead agent may have pulled it after its last beat), ahead of fresh work
//
// Controls: emergency stop → nothing at all; a paused or finished job → no starts; a drained
// or failed node → no placement there; the storage breaker open → no starts (one probe when
// half-open). The shell executes decisions through the consensus client; fencing in the
// manifest makes a decision that raced another scheduler a harmless rejection.

import { batchedPrefetch, travelsInBatches } from "./batching.js";
import type { StorageBreaker } from "./breaker.js";
import {
  type DeadlinePolicy,
  type DurationStats,
  isStraggler,
  type Learned,
  overran,
} from "./deadlines.js";
import {
  type InputLocation,
  majorityLocation,
  type NodeCandidate,
  type PlacementOptions,
  placeTask,
  SLOTS_BUSY,
} from "./placement.js";
import { type PrefetchPolicy, prefetchFor } from "./prefetch.js";
import { exhaustedReason, type RetryPolicy } from "./retry.js";
import { armableReduces, nextAttempt, type RunnableTask, runnableTasks } from "./runnable.js";
import {
  isFinished,
  type JobView,
  type LiveAttempt,
  mapTaskId,
  type SchedulerView,
  type TaskView,
} from "./view.js";

export interface PlannerConfig {
  readonly retry: RetryPolicy;
  readonly deadlines: DeadlinePolicy;
  /** Placement policy, pools, cooldown; queued attempts per node come from `prefetch`. */
  readonly placement: Omit<PlacementOptions, "prefetch">;
  readonly prefetch: PrefetchPolicy;
  /** Where input datasets live (locality for maps); undefined: no preference. */
  readonly dataLocation: InputLocation | undefined;
  /** Most attempt-starts per pass (bounds one burst of proposals). */
  readonly maxStartsPerPass: number;
  /** Starts per batch on the batched path (core/batching.ts); 1: the path is off. */
  readonly batchMaxTasks: number;
  /** Arm reduces whose partials all run (attempt-start whenReady; runnable.ts armableReduces). */
  readonly armReduces: boolean;
  /**
   * Expire an attempt the manifest binds to a live node once that node's heartbeats have not
   * listed it for this long (ms; 0: never): see `notHeld`.
   */
  readonly unlistedAfterMs: number;
}

/** What the shell knows beyond the manifest: heartbeats and its own proposals in flight. */
export interface PlannerInputs {
  readonly now: number;
  /** Tasks ("job/task") with a proposal in flight: never decided twice. */
  readonly inflight: ReadonlySet<string>;
  /** Attempts ("job/task/attempt") an agent reports running, by node (from heartbeats). */
  readonly runningOn: ReadonlyMap<string, string>;
  /**
   * Where this scheduler placed attempts it started ("job/task/attempt" → node): load until a
   * heartbeat shows the real runner. Never used to blame a node.
   */
  readonly placedOn?: ReadonlyMap<string, string>;
  /** Nodes whose heartbeats stopped (the manifest may not have failed them yet). */
  readonly silentNodes?: ReadonlySet<string>;
  readonly durations: DurationStats;
  /** Agents' reported run times per job and kind (queued-attempt allowance); absent: none. */
  readonly runTimes?: DurationStats;
  readonly breaker: StorageBreaker;
  /**
   * Attempt-starts this scheduler decided whose attempt its view does not show yet (queued for a
   * proposal slot, being committed, or committed with the event still on its way), by
   * attemptKey. They hold their node's capacity: without them every pass until the commits land
   * saw the nodes free and placed another round, and a 5,000-task job had ~4,500 attempts
   * decided at once, all over capacity, queued behind each other in the work stream.
   */
  readonly pendingStarts?: ReadonlyMap<string, PendingStart>;
  /**
   * For attempts a node is known to hold ("job/task/attempt" → this scheduler's clock): bound to
   * it by the manifest, or listed by its heartbeats; when the binding was seen, or later, when a
   * heartbeat of that node last listed the attempt (bound-attempts.ts).
   */
  readonly boundSeen?: ReadonlyMap<string, number>;
  /** For attempts the manifest binds to no node: the node whose heartbeats last listed it. */
  readonly listedBy?: ReadonlyMap<string, string>;
  /** When each node's latest heartbeat arrived (this scheduler's clock). */
  readonly beatAt?: ReadonlyMap<string, number>;
  /** The attempts ("job/task/attempt") each node's latest heartbeat listed. */
  readonly heldBy?: ReadonlyMap<string, readonly string[]>;
}

/**
 * How recent a node's latest heartbeat must be, against the end of an attempt's unlisted
 * window, to count as that node saying it does not hold the attempt (beats come every second;
 * an older one says nothing about the window's end, and a node silent for long is a node loss).
 */
const FRESH_BEAT_MS = 2_000;

/**
 * Whether a live node that holds an attempt (the manifest binds it there, or, for an attempt the
 * manifest binds to no node, that node's heartbeats listed it) no longer does: its heartbeats
 * have not listed it for `cfg.unlistedAfterMs` (the latest beat arriving at the end of that
 * window) while listing fewer attempts than the node has slots. This happens when the reply
 * that handed the attempt over was lost and the agent's own re-asks (~6 s) found no leader
 * either, or when the agent was killed and is back under the same node id before the manifest
 * noticed: nothing else would end the attempt before its deadline (up to the initial 300 s) or,
 * for pulled work, before the dead process's message comes back after the ack wait. Not the
 * task's fault, so not counted as a failure. Returns `{expire: node}` when it is time to expire
 * the attempt, the wake-up time while its window is still open (or every slot is busy).
 *
 * The free slot is what makes the judgement safe with agents of any version: current agents
 * list handed work waiting for a slot too, but older ones list only what runs — and any agent
 * runs handed work before anything else, so a node with a slot free would be running it.
 */
function notHeld(
  key: string,
  a: LiveAttempt,
  view: SchedulerView,
  cfg: PlannerConfig,
  inputs: PlannerInputs,
): { readonly expire: string } | { readonly wakeAt: number } | undefined {
  const node = a.nodeId ?? inputs.listedBy?.get(key);
  if (node === undefined || cfg.unlistedAfterMs <= 0) return undefined;
  const seen = inputs.boundSeen?.get(key);
  if (seen === undefined || inputs.runningOn.get(key) === node) return undefined;
  const windowEnd = seen + cfg.unlistedAfterMs;
  const beat = inputs.beatAt?.get(node);
  const held = inputs.heldBy?.get(node)?.length ?? 0;
  const slotFree = held < (view.nodes.get(node)?.capacity.slots ?? 0);
  const freshBeat = beat !== undefined && beat >= windowEnd - FRESH_BEAT_MS;
  if (inputs.now >= windowEnd && freshBeat && slotFree) return { expire: node };
  // Past the window with no fresh beat, or every slot busy: look again when the next is due.
  return { wakeAt: inputs.now < windowEnd ? windowEnd : inputs.now + 1_000 };
}

/** Why an attempt is expired: its node failed or went silent, its node does not hold it, or it
 * ran past its deadline (only the last counts against the task's attempts). */
export const EXPIRE_CAUSES = ["node-failed", "not-held", "overran"] as const;
export type ExpireCause = (typeof EXPIRE_CAUSES)[number];

/** A start decision not yet visible in the view (see PlannerInputs.pendingStarts). */
export interface PendingStart {
  readonly jobId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly nodeId: string;
}

/**
 * Whether the view has caught up with a pending start: the attempt (or a later one) is known,
 * so it is counted as a live attempt, or has ended; or its job is gone or finished.
 */
export function pendingStartSeen(view: SchedulerView, p: PendingStart): boolean {
  const job = view.jobs.get(p.jobId);
  if (!job || isFinished(job.state)) return true;
  return (job.tasks.get(p.taskId)?.lastAttempt ?? 0) >= p.attempt;
}

export type Decision =
  | {
      readonly type: "start";
      readonly jobId: string;
      readonly taskId: string;
      readonly kind: "map" | "reduce";
      readonly i: number;
      readonly j: number;
      readonly k: number | undefined;
      readonly attempt: number;
      readonly nodeId: string;
      readonly pool: string;
      readonly speculative: boolean;
      readonly deadlineAt: number;
      readonly why: RunnableTask["why"] | "straggler" | "rescue";
      /** Arm it (attempt-start whenReady): it starts when its partials complete. */
      readonly whenReady?: boolean;
    }
  | {
      readonly type: "expire";
      readonly jobId: string;
      readonly taskId: string;
      readonly attempt: number;
      readonly reason: string;
      readonly cause: ExpireCause;
    }
  | {
      readonly type: "fail";
      readonly jobId: string;
      readonly taskId: string;
      readonly attempt: number;
      readonly reason: string;
    }
  | {
      readonly type: "reset";
      readonly jobId: string;
      readonly taskId: string;
      /** The completed attempt whose output is bad (fences a stale reset). */
      readonly attempt: number | undefined;
      readonly reason: string;
    };

export interface Plan {
  readonly decisions: Decision[];
  /** Why nothing (more) was started, for logs / metrics / readiness. */
  readonly blocked: string | undefined;
  /** Earliest future time the plan may change without a new event (backoff, deadline). */
  readonly wakeAt: number | undefined;
}

/**
 * How long after a node failed its possibly-held attempts are looked for: every live agent has
 * heartbeated (every second) since, so an attempt started before the failure that no heartbeat
 * lists is on the dead node, or still queued in the work stream.
 */
export const RESCUE_AFTER_MS = 2_000;
/** Failures older than this no longer trigger rescues (deadlines and redelivery take over). */
export const RESCUE_WINDOW_MS = 60_000;

export const taskKey = (jobId: string, taskId: string) => `${jobId}/${taskId}`;
export const attemptKey = (jobId: string, taskId: string, attempt: number) =>
  `${jobId}/${taskId}/${attempt}`;

/** Where the attempt runs: the manifest's node, else the node an agent's heartbeat names. */
function nodeOf(
  jobId: string,
  t: TaskView,
  attempt: number,
  inputs: PlannerInputs,
): string | undefined {
  return t.live.get(attempt)?.nodeId ?? inputs.runningOn.get(attemptKey(jobId, t.taskId, attempt));
}

/** Attempts that count against maxAttempts: failures plus deadline overruns (not node losses). */
function attemptsBurnt(t: TaskView): number {
  return t.failures;
}

export function plan(view: SchedulerView, cfg: PlannerConfig, inputs: PlannerInputs): Plan {
  const { now } = inputs;
  const decisions: Decision[] = [];
  if (view.emergencyStop)
    return { decisions, blocked: "emergency stop engaged", wakeAt: undefined };

  const jobs = [...view.jobs.values()]
    .filter((j) => !isFinished(j.state))
    .sort((a, b) => a.submitIndex - b.submitIndex);

  // Load per node: live attempts placed/running there. Live attempts nobody can place (queued
  // in the work stream, started by another scheduler, finished but not yet committed) still
  // hold a slot somewhere: they are spread over the nodes below before anything new is placed.
  const load = new Map<string, number>();
  let unassigned = 0;
  let wakeAt: number | undefined;
  const wake = (t: number | undefined) => {
    if (t !== undefined && t > now && (wakeAt === undefined || t < wakeAt)) wakeAt = t;
  };
  const breakerOpen = inputs.breaker.state(now) === "open";
  // What siblings taught (DurationStats caches it between passes).
  const learnedFor = (jobId: string): { map: Learned; reduce: Learned } => ({
    map: inputs.durations.learned(jobId, "map", cfg.deadlines),
    reduce: inputs.durations.learned(jobId, "reduce", cfg.deadlines),
  });
  // Placement for a job's tasks of a kind (built once per job and pass): the queue allowance
  // follows how long agents took to run its siblings, or, for a batched job, a number of batches
  // (core/batching.ts).
  const placementWith = (runMs: number | undefined): PlacementOptions => ({
    ...cfg.placement,
    prefetch: (slots) => prefetchFor(cfg.prefetch, slots, runMs),
  });
  const batched = (jobId: string): boolean => {
    const spec = view.jobs.get(jobId)?.spec;
    return spec !== undefined && cfg.batchMaxTasks > 1 && travelsInBatches(spec);
  };
  const placementsFor = (jobId: string): Record<"map" | "reduce", PlacementOptions> => {
    if (batched(jobId)) {
      const queued = batchedPrefetch(cfg.prefetch, cfg.batchMaxTasks);
      const batched: PlacementOptions = { ...cfg.placement, prefetch: () => queued };
      return { map: batched, reduce: batched };
    }
    return {
      map: placementWith(inputs.runTimes?.learned(jobId, "map", cfg.deadlines).p75),
      reduce: placementWith(inputs.runTimes?.learned(jobId, "reduce", cfg.deadlines).p75),
    };
  };

  // 1. Sweep live attempts: expiries, exhaustion, load.
  for (const job of jobs) {
    const learned = learnedFor(job.jobId);
    for (const t of job.unsettled) {
      if (t.live.size === 0) continue;
      for (const a of t.live.values()) {
        const node = nodeOf(job.jobId, t, a.attempt, inputs);
        const loadNode = node ?? inputs.placedOn?.get(attemptKey(job.jobId, t.taskId, a.attempt));
        if (loadNode !== undefined) load.set(loadNode, (load.get(loadNode) ?? 0) + 1);
        else unassigned++;
        if (inputs.inflight.has(taskKey(job.jobId, t.taskId))) continue;
        const nv = node === undefined ? undefined : view.nodes.get(node);
        const nodeLost =
          nv?.state === "failed" || (node !== undefined && inputs.silentNodes?.has(node) === true);
        if (nodeLost) {
          decisions.push({
            type: "expire",
            jobId: job.jobId,
            taskId: t.taskId,
            attempt: a.attempt,
            reason: `node ${node} ${nv?.state === "failed" ? "failed" : "stopped sending heartbeats"} while running attempt ${a.attempt}`,
            cause: "node-failed",
          });
          continue;
        }
        const key = attemptKey(job.jobId, t.taskId, a.attempt);
        const held = notHeld(key, a, view, cfg, inputs);
        if (held && "expire" in held) {
          const since = `its heartbeats have not listed it for ${Math.round(cfg.unlistedAfterMs / 1000)} s`;
          decisions.push({
            type: "expire",
            jobId: job.jobId,
            taskId: t.taskId,
            attempt: a.attempt,
            reason:
              a.nodeId === undefined
                ? `node ${held.expire} does not hold attempt ${a.attempt}: its heartbeats listed it, but ${since} (the agent lost it, e.g. restarted under the same node id)`
                : `node ${held.expire} does not hold attempt ${a.attempt}: bound to it by the manifest, but ${since} (handed-over work whose reply was lost)`,
            cause: "not-held",
          });
          continue;
        }
        if (held) wake(held.wakeAt);
        const l = learned[t.kind];
        // A storage outage makes everything slow: expiring then only burns attempts.
        if (!breakerOpen && overran(a, l, now)) {
          const ranMs = now - a.startedAt;
          const why = `attempt ${a.attempt} ran ${ranMs} ms, past its deadline of ${Math.round(l.deadlineMs)} ms (${l.p75 === undefined ? "initial deadline" : `${cfg.deadlines.deadlineFactor} × p75 ${Math.round(l.p75)} ms of completed ${t.kind}s`})${node ? ` on node ${node}` : ""}`;
          const exhausted =
            t.live.size === 1
              ? exhaustedReason({
                  jobId: job.jobId,
                  taskId: t.taskId,
                  failures: attemptsBurnt(t) + 1,
                  maxAttempts: job.maxAttempts,
                  lastReason: `overran: ${why}`,
                  lastNode: node,
                })
              : undefined;
          decisions.push(
            exhausted
              ? {
                  type: "fail",
                  jobId: job.jobId,
                  taskId: t.taskId,
                  attempt: a.attempt,
                  reason: exhausted,
                }
              : {
                  type: "expire",
                  jobId: job.jobId,
                  taskId: t.taskId,
                  attempt: a.attempt,
                  reason: `overran: ${why}`,
                  cause: "overran",
                },
          );
        } else {
          wake(a.startedAt + l.deadlineMs + 1);
        }
      }
    }
  }
  for (const p of inputs.pendingStarts?.values() ?? []) {
    if (!pendingStartSeen(view, p)) load.set(p.nodeId, (load.get(p.nodeId) ?? 0) + 1);
  }
  const decided = new Set(decisions.map((d) => taskKey(d.jobId, d.taskId)));

  // 2. Placement.
  const nodes: NodeCandidate[] = [...view.nodes.values()]
    .map((n) => ({
      nodeId: n.nodeId,
      pool: n.labels.pool,
      cloud: n.labels.cloud,
      region: n.labels.region,
      zone: n.labels.zone,
      slots: n.capacity.slots,
      inFlight: load.get(n.nodeId) ?? 0,
      failed: n.state === "failed" || inputs.silentNodes?.has(n.nodeId) === true,
      drained: n.drained,
      lastFailureAt: n.lastFailureAt,
    }))
    .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  const reserve = (nodeId: string) => {
    const idx = nodes.findIndex((n) => n.nodeId === nodeId);
    const n = nodes[idx];
    if (n) nodes[idx] = { ...n, inFlight: n.inFlight + 1 };
  };

  for (let u = 0; u < unassigned; u++) {
    const p = placeTask(nodes, now, placementWith(undefined));
    if (!p.ok) break;
    reserve(p.nodeId);
  }

  let blocked: string | undefined;
  let starts = 0;
  const skip = new Set<string>();
  const skipFor = (job: JobView) => {
    skip.clear();
    for (const key of inputs.inflight)
      if (key.startsWith(`${job.jobId}/`)) skip.add(key.slice(job.jobId.length + 1));
    for (const key of decided)
      if (key.startsWith(`${job.jobId}/`)) skip.add(key.slice(job.jobId.length + 1));
    return skip;
  };
  const runnableJobs = jobs.filter((j) => j.state === "queued" || j.state === "running");
  if (jobs.length > 0 && runnableJobs.length === 0)
    blocked = "no job accepts new attempts (paused or verifying)";
  const breakerState = inputs.breaker.state(now);
  if (breakerState === "open") {
    blocked = "storage circuit breaker open";
    wake(inputs.breaker.reopensAt());
  }
  /** The task's one live, non-speculative attempt, if it may get a twin in this pass. */
  const twinCandidate = (job: JobView, t: TaskView) => {
    if (t.live.size !== 1 || starts >= cfg.maxStartsPerPass) return undefined;
    const key = taskKey(job.jobId, t.taskId);
    if (inputs.inflight.has(key) || decided.has(key)) return undefined;
    const a = [...t.live.values()][0];
    return a && !a.speculative ? a : undefined;
  };

  /** A speculative duplicate of a task's one live attempt (a straggler's, or a rescue). */
  const startTwin = (
    job: JobView,
    t: TaskView,
    placed: { readonly nodeId: string; readonly pool: string },
    why: "straggler" | "rescue",
  ) => {
    decisions.push({
      type: "start",
      ...nextAttempt(job, t),
      nodeId: placed.nodeId,
      pool: placed.pool,
      speculative: true,
      deadlineAt: now + learnedFor(job.jobId)[t.kind].deadlineMs,
      why,
    });
    decided.add(taskKey(job.jobId, t.taskId));
    reserve(placed.nodeId);
    starts++;
  };

  // 2a. Rescue. An agent that died may have pulled attempts after its last heartbeat: nothing in
  // the manifest or the heartbeats ties them to it, so the expiry above cannot see them, and
  // otherwise only a deadline, speculation (spare slots only, so near the end of a job) or the
  // work stream's redelivery (ack wait) would end them. Once every live agent has beaten since
  // the failure, a live attempt started before it that no heartbeat lists gets a speculative
  // twin now, ahead of fresh work; if the original was merely queued, the first completion
  // wins and the other is released. Each such task is rescued once (it then has two attempts).
  const lastNodeFailure = [...view.nodes.values()].reduce(
    (m, n) => (n.state === "failed" && (n.lastFailureAt ?? -1) > m ? (n.lastFailureAt ?? -1) : m),
    -1,
  );
  if (
    breakerState !== "open" &&
    lastNodeFailure >= 0 &&
    now - lastNodeFailure <= RESCUE_WINDOW_MS
  ) {
    if (now - lastNodeFailure < RESCUE_AFTER_MS) wake(lastNodeFailure + RESCUE_AFTER_MS);
    else {
      rescue: for (const job of runnableJobs) {
        const placements = placementsFor(job.jobId);
        for (const t of job.unsettled) {
          const a = twinCandidate(job, t);
          if (!a || a.startedAt >= lastNodeFailure) continue;
          if (nodeOf(job.jobId, t, a.attempt, inputs) !== undefined) continue;
          // Not gated by free slots: the attempt it stands in for is counted as load on the live
          // nodes (its runner is unknown), so waiting for a slot would wait on a phantom.
          const placed = placeTask(
            nodes.map((n) => ({ ...n, inFlight: 0 })),
            now,
            placements[t.kind],
          );
          if (!placed.ok) break rescue;
          startTwin(job, t, placed, "rescue");
        }
      }
    }
  }

  outer: for (const job of breakerState === "open" ? [] : runnableJobs) {
    const placements = placementsFor(job.jobId);
    for (const r of runnableTasks(job, now, cfg.retry, skipFor(job))) {
      if (starts >= cfg.maxStartsPerPass) {
        blocked = `start limit per pass (${cfg.maxStartsPerPass}) reached`;
        break outer;
      }
      const placed = placeTask(nodes, now, placements[r.kind], inputLocation(view, job, r, cfg));
      if (!placed.ok) {
        blocked = placed.reason;
        break outer;
      }
      if (!inputs.breaker.allowPlacement(now, attemptKey(r.jobId, r.taskId, r.attempt))) {
        blocked = "storage circuit breaker half-open: waiting for the probe attempt";
        break outer;
      }
      const l = learnedFor(job.jobId)[r.kind];
      decisions.push({
        type: "start",
        jobId: r.jobId,
        taskId: r.taskId,
        kind: r.kind,
        i: r.i,
        j: r.j,
        k: r.k,
        attempt: r.attempt,
        nodeId: placed.nodeId,
        pool: placed.pool,
        speculative: false,
        deadlineAt: now + l.deadlineMs,
        why: r.why,
      });
      reserve(placed.nodeId);
      starts++;
    }
    for (const t of job.unsettled) {
      if (t.failures > 0 && t.live.size === 0 && !t.completed && t.failedReason === undefined) {
        wake((t.lastFailureAt ?? now) + 1 + retryWait(cfg.retry, t.failures));
      }
    }
  }

  // 2b. Arm reduces whose partials all run or start now: the manifest starts each in the entry
  // that completes its last partial, so a reduce waits for no scheduler round trip and no
  // second commit. An armed reduce holds no slot until it starts (its deadline, too, counts
  // from then); nothing is armed while the breaker is not closed. A batched job's reduce armed
  // travels alone (its own start, item and completion messages), which a busy cluster pays for
  // in throughput while the reduce would wait in a queue anyway: it is armed only while some
  // node has a slot idle (nothing queued there), when the hop's latency is what matters.
  const idleSlot = nodes.some((n) => !n.failed && !n.drained && n.inFlight < n.slots);
  if (cfg.armReduces && breakerState === "closed") {
    // Maps being started, by job: this pass's start decisions and earlier ones not yet seen.
    const startingByJob = new Map<string, string[]>();
    const noteStarting = (jobId: string, taskId: string) => {
      const list = startingByJob.get(jobId);
      if (list) list.push(taskId);
      else startingByJob.set(jobId, [taskId]);
    };
    for (const d of decisions)
      if (d.type === "start" && d.kind === "map") noteStarting(d.jobId, d.taskId);
    for (const p of inputs.pendingStarts?.values() ?? [])
      if (!pendingStartSeen(view, p)) noteStarting(p.jobId, p.taskId);
    arm: for (const job of runnableJobs) {
      if (!idleSlot && batched(job.jobId)) continue;
      const starting = startingByJob.get(job.jobId) ?? [];
      // It holds no slot until it starts: placed by today's load where a node has room, else as
      // if every node were free (only its pool and a load hint depend on the choice).
      const free = nodes.map((n) => ({ ...n, inFlight: 0 }));
      const placement = placementsFor(job.jobId).reduce;
      for (const r of armableReduces(job, starting, skipFor(job))) {
        if (starts >= cfg.maxStartsPerPass) break arm;
        const byLoad = placeTask(nodes, now, placement);
        const placed = byLoad.ok ? byLoad : placeTask(free, now, placement);
        if (!placed.ok) break arm;
        decisions.push({
          type: "start",
          ...r,
          nodeId: placed.nodeId,
          pool: placed.pool,
          speculative: false,
          deadlineAt: now + learnedFor(job.jobId).reduce.deadlineMs,
          whenReady: true,
        });
        starts++;
      }
    }
  }

  // 3. Speculation for stragglers, with whatever slots are left, never while the breaker is
  // not closed (duplicates would only add load to a failing store).
  if (blocked === undefined || blocked === SLOTS_BUSY) {
    if (inputs.breaker.state(now) === "closed" && cfg.deadlines.speculationFactor > 0) {
      spec: for (const job of runnableJobs) {
        const learned = learnedFor(job.jobId);
        const placements = placementsFor(job.jobId);
        for (const t of job.unsettled) {
          const a = twinCandidate(job, t);
          if (!a) continue;
          const l = learned[t.kind];
          if (!isStraggler(a, l, now)) {
            if (l.speculateAfterMs !== undefined) wake(a.startedAt + l.speculateAfterMs + 1);
            continue;
          }
          const runner = nodeOf(job.jobId, t, a.attempt, inputs);
          const placed = placeTask(
            nodes,
            now,
            placements[t.kind],
            undefined,
            runner === undefined ? undefined : new Set([runner]),
          );
          if (!placed.ok) break spec;
          startTwin(job, t, placed, "straggler");
        }
      }
    }
  }
  return { decisions, blocked, wakeAt };
}

function retryWait(retry: RetryPolicy, failures: number): number {
  return Math.min(retry.maxMs, retry.baseMs * retry.factor ** Math.max(0, failures - 1));
}

/** Where the task's inputs are: partials' producers for a reduce, the dataset for a map. */
function inputLocation(
  view: SchedulerView,
  job: JobView,
  r: RunnableTask,
  cfg: PlannerConfig,
): InputLocation | undefined {
  if (cfg.placement.policy !== "locality") return undefined;
  if (r.kind === "map") return cfg.dataLocation;
  const places: (InputLocation | undefined)[] = [];
  for (let k = 0; k < job.partials; k++) {
    const done = job.tasks.get(mapTaskId(r.i, r.j, k))?.completed;
    const node = done ? view.nodes.get(done.nodeId) : undefined;
    places.push(node ? { cloud: node.labels.cloud, region: node.labels.region } : undefined);
  }
  return majorityLocation(places) ?? cfg.dataLocation;
}

/**
 * A reduce failed reading a partial: which partial(s) to reset. The agent's reason names the
 * key (`jobs/<job>/partials/i-j-k.tile`); without a key, every partial of the row is suspect.
 */
export function partialsToReset(job: JobView, reduceTaskId: string, reason: string): string[] {
  if (!/TESSERA_E_STORAGE_CHECKSUM|TESSERA_E_TILE_/.test(reason)) return [];
  const m = /^r-(\d+)-(\d+)$/.exec(reduceTaskId);
  if (!m) return [];
  const i = Number(m[1]);
  const j = Number(m[2]);
  const named = [...reason.matchAll(/partials\/(\d+)-(\d+)-(\d+)\.tile/g)]
    .map((x) => ({ i: Number(x[1]), j: Number(x[2]), k: Number(x[3]) }))
    .filter((p) => p.i === i && p.j === j && p.k < job.partials)
    .map((p) => mapTaskId(p.i, p.j, p.k));
  if (named.length > 0) return [...new Set(named)];
  return Array.from({ length: job.partials }, (_, k) => mapTaskId(i, j, k));
}
