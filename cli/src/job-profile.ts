// `tessera job profile`: where a job's time went and what bounded it (bottleneck detection).
// Pure: turns the job's manifest times and the agents' "work item completed" log lines (each
// agent ships one per work item to TESSERA_LOGS, with its read / compute / write timings; one
// "work batch completed" line per work batch, with each item's) into a profile and a verdict. The command around it (commands.ts) reads the two.

/** One work item an agent ran, from its shipped completion line. */
export interface ItemTiming {
  readonly node: string;
  readonly taskId: string;
  readonly attempt: number;
  /** When the agent logged the completion (ms since the epoch): the item's end, to a few ms. */
  readonly endAt: number;
  readonly readMs: number;
  readonly computeMs: number;
  readonly writeMs: number;
  readonly totalMs: number;
}

/** The message of the agent's line per completed work item (services/agent work-loop.ts). */
export const COMPLETED_MSG = "work item completed";
/** The message of its line per completed work batch: `items[{taskId, attempt, endAt, timings}]`. */
export const COMPLETED_BATCH_MSG = "work batch completed";
/** A substring of both messages: what to search TESSERA_LOGS for. */
export const COMPLETION_LINES_GREP = "completed";

const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** Reads one shipped agent line; null when it is not a completion with timings. */
export function itemTimingOf(line: Readonly<Record<string, unknown>>): ItemTiming | null {
  const t = line.timings as Record<string, unknown> | undefined;
  const node = line.node ?? line.nodeId;
  if (line.msg !== COMPLETED_MSG || typeof t !== "object" || t === null) return null;
  if (typeof node !== "string" || typeof line.taskId !== "string") return null;
  if (!finite(line.time) || !finite(line.attempt)) return null;
  if (!finite(t.readMs) || !finite(t.computeMs) || !finite(t.writeMs) || !finite(t.totalMs)) {
    return null;
  }
  return {
    node,
    taskId: line.taskId,
    attempt: line.attempt,
    endAt: line.time,
    readMs: t.readMs,
    computeMs: t.computeMs,
    writeMs: t.writeMs,
    totalMs: t.totalMs,
  };
}

/** Every item timing one shipped agent line holds: a completion line's one, a batch line's each. */
export function itemTimingsOf(line: Readonly<Record<string, unknown>>): ItemTiming[] {
  if (line.msg === COMPLETED_MSG) {
    const one = itemTimingOf(line);
    return one ? [one] : [];
  }
  if (line.msg !== COMPLETED_BATCH_MSG || !Array.isArray(line.items)) return [];
  const node = line.node ?? line.nodeId;
  return (line.items as unknown[]).flatMap((item) => {
    if (typeof item !== "object" || item === null) return [];
    const i = item as Record<string, unknown>;
    const one = itemTimingOf({ ...i, msg: COMPLETED_MSG, node, time: i.endAt });
    return one ? [one] : [];
  });
}

/** The job view's fields a profile needs (GET /v1/jobs/:id), ms since the epoch. */
export interface JobTimes {
  readonly state: string;
  readonly tasks: number;
  readonly submittedAt: number;
  readonly startedAt: number | null;
  readonly computedAt: number | null;
  readonly finishedAt: number | null;
}

export type BottleneckStage =
  | "kernel"
  | "storage-read"
  | "storage-write"
  | "control-plane"
  | "unknown";

export interface NodeProfile {
  readonly node: string;
  readonly items: number;
  readonly busySeconds: number;
  /** Fraction of the compute window in which this node had at least one item running. */
  readonly occupancy: number;
}

export interface JobProfile {
  readonly jobId: string;
  readonly state: string;
  /** Submitted → finished (verified, failed or cancelled); null while it runs. */
  readonly wallSeconds: number | null;
  /** Started → computed (every reduce done), or → now while it computes. */
  readonly computeSeconds: number;
  /** Computed → finished: the storage-manager's verification; null until both are known. */
  readonly verifySeconds: number | null;
  readonly tasks: number;
  /** Work items with timings (a speculative or retried attempt is an item of its own). */
  readonly items: number;
  readonly distinctTasks: number;
  /** Sum of the items' run times (slots run items side by side, so this can exceed the window). */
  readonly busySeconds: number;
  readonly phases: {
    readonly readSeconds: number;
    readonly computeSeconds: number;
    readonly writeSeconds: number;
  };
  /** Mean over the nodes that ran items of their occupancy: below OCCUPANCY_BOUND, they waited. */
  readonly occupancy: number | null;
  readonly nodes: readonly NodeProfile[];
  readonly bottleneck: { readonly stage: BottleneckStage; readonly reason: string };
  readonly notes: readonly string[];
  /** Every work item on the job's clock, by start (`--timeline`; absent otherwise). */
  readonly timeline?: readonly TimelineRow[];
}

/** One work item on the job's clock: seconds since the job started (the manifest's startedAt). */
export interface TimelineRow {
  readonly node: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly startSeconds: number;
  readonly endSeconds: number;
  readonly readMs: number;
  readonly computeMs: number;
  readonly writeMs: number;
}

/**
 * Below this mean occupancy the agents spent much of the compute window with nothing to run: the
 * work did not reach them fast enough (commits, scheduling, delivery), whatever their phases say.
 */
export const OCCUPANCY_BOUND = 0.6;
/** A node doing this many times the least-busy node's work is named as an imbalance. */
export const IMBALANCE_RATIO = 1.5;
/** Verification taking more than this share of the job's wall time is named. */
export const VERIFY_SHARE_NOTE = 0.25;

const pct = (x: number) => `${Math.round(x * 100)} %`;
const sec = (ms: number) => Math.round(ms) / 1000;

/** Length of the union of [start, end] intervals clipped to [from, to]. */
export function coveredMs(
  intervals: readonly [number, number][],
  from: number,
  to: number,
): number {
  const clipped = intervals
    .map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let curStart = Number.NaN;
  let curEnd = Number.NaN;
  for (const [a, b] of clipped) {
    if (Number.isNaN(curEnd) || a > curEnd) {
      if (!Number.isNaN(curEnd)) total += curEnd - curStart;
      curStart = a;
      curEnd = b;
    } else {
      curEnd = Math.max(curEnd, b);
    }
  }
  if (!Number.isNaN(curEnd)) total += curEnd - curStart;
  return total;
}

/**
 * The items on the job's clock, earliest start first: which node ran what when, so gaps between
 * one node's items (it waited for work) and overlaps (its slots ran side by side) show.
 */
export function timelineOf(items: readonly ItemTiming[], from: number): TimelineRow[] {
  const ms = (x: number) => Math.round(x * 1000) / 1000;
  return items
    .map((it) => ({
      node: it.node,
      taskId: it.taskId,
      attempt: it.attempt,
      startSeconds: sec(it.endAt - it.totalMs - from),
      endSeconds: sec(it.endAt - from),
      readMs: ms(it.readMs),
      computeMs: ms(it.computeMs),
      writeMs: ms(it.writeMs),
    }))
    .sort(
      (a, b) =>
        a.startSeconds - b.startSeconds ||
        a.node.localeCompare(b.node) ||
        a.taskId.localeCompare(b.taskId),
    );
}

export function profileJob(
  jobId: string,
  job: JobTimes,
  items: readonly ItemTiming[],
  now: number,
  options: { readonly timeline?: boolean } = {},
): JobProfile {
  const from = job.startedAt ?? job.submittedAt;
  const to = job.computedAt ?? now;
  const windowMs = Math.max(1, to - from);
  let readMs = 0;
  let computeMs = 0;
  let writeMs = 0;
  let busyMs = 0;
  const byNode = new Map<string, ItemTiming[]>();
  for (const it of items) {
    readMs += it.readMs;
    computeMs += it.computeMs;
    writeMs += it.writeMs;
    busyMs += it.totalMs;
    const list = byNode.get(it.node) ?? [];
    list.push(it);
    byNode.set(it.node, list);
  }
  const nodes: NodeProfile[] = [...byNode.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([node, list]) => ({
      node,
      items: list.length,
      busySeconds: sec(list.reduce((s, it) => s + it.totalMs, 0)),
      occupancy:
        Math.round(
          (coveredMs(
            list.map((it) => [it.endAt - it.totalMs, it.endAt]),
            from,
            to,
          ) /
            windowMs) *
            1000,
        ) / 1000,
    }));
  const occupancy =
    nodes.length === 0
      ? null
      : Math.round((nodes.reduce((s, n) => s + n.occupancy, 0) / nodes.length) * 1000) / 1000;
  const wallSeconds = job.finishedAt === null ? null : sec(job.finishedAt - job.submittedAt);
  const verifySeconds =
    job.finishedAt === null || job.computedAt === null
      ? null
      : sec(job.finishedAt - job.computedAt);
  const distinctTasks = new Set(items.map((it) => it.taskId)).size;

  const notes: string[] = [];
  if (items.length > distinctTasks) {
    notes.push(
      `${items.length - distinctTasks} work item(s) ran a task a second time (speculative or retried attempts)`,
    );
  }
  if (nodes.length >= 2) {
    const sorted = [...nodes].sort((a, b) => b.busySeconds - a.busySeconds);
    const most = sorted[0] as NodeProfile;
    const least = sorted[sorted.length - 1] as NodeProfile;
    if (most.busySeconds > IMBALANCE_RATIO * least.busySeconds) {
      notes.push(
        `imbalance: ${most.node} was busy ${most.busySeconds} s, ${least.node} ${least.busySeconds} s`,
      );
    }
  }
  if (wallSeconds !== null && verifySeconds !== null && wallSeconds > 0) {
    if (verifySeconds / wallSeconds > VERIFY_SHARE_NOTE) {
      notes.push(`verification took ${pct(verifySeconds / wallSeconds)} of the job's wall time`);
    }
  }
  if (job.computedAt === null)
    notes.push("the job is still computing: a profile of its work so far");

  return {
    jobId,
    state: job.state,
    wallSeconds,
    computeSeconds: sec(windowMs),
    verifySeconds,
    tasks: job.tasks,
    items: items.length,
    distinctTasks,
    busySeconds: sec(busyMs),
    phases: {
      readSeconds: sec(readMs),
      computeSeconds: sec(computeMs),
      writeSeconds: sec(writeMs),
    },
    occupancy,
    nodes,
    bottleneck: verdict(items.length, occupancy, readMs, computeMs, writeMs),
    notes,
    ...(options.timeline ? { timeline: timelineOf(items, from) } : {}),
  };
}

function verdict(
  items: number,
  occupancy: number | null,
  readMs: number,
  computeMs: number,
  writeMs: number,
): JobProfile["bottleneck"] {
  if (items === 0 || occupancy === null) {
    return {
      stage: "unknown",
      reason:
        "no agent completion lines for this job in TESSERA_LOGS (agents ship them with --ship-logs, which dev up, compose and Helm turn on; lines older than the stream's retention are gone)",
    };
  }
  if (occupancy < OCCUPANCY_BOUND) {
    return {
      stage: "control-plane",
      reason: `agents had an item running only ${pct(occupancy)} of the compute window; the rest of it they waited for work (commits, scheduling, delivery)`,
    };
  }
  const phases = readMs + computeMs + writeMs;
  const share = (x: number) => (phases > 0 ? x / phases : 0);
  const split = `read ${pct(share(readMs))}, compute ${pct(share(computeMs))}, write ${pct(share(writeMs))}`;
  if (computeMs >= readMs && computeMs >= writeMs) {
    return { stage: "kernel", reason: `the kernel took most of the agents' time (${split})` };
  }
  if (writeMs >= readMs) {
    return {
      stage: "storage-write",
      reason: `durable writes took most of the agents' time (${split})`,
    };
  }
  return {
    stage: "storage-read",
    reason: `reading inputs took most of the agents' time (${split})`,
  };
}

/** The human-readable lines of a profile. */
export function formatProfile(p: JobProfile): string[] {
  const s = (x: number | null) => (x === null ? "--" : `${x.toFixed(2)} s`);
  const lines = [
    `${p.jobId}: ${p.state}; wall ${s(p.wallSeconds)} (computing ${s(p.computeSeconds)}, verifying ${s(p.verifySeconds)})`,
    `agents: ${p.items} work items timed for ${p.distinctTasks} of ${p.tasks} tasks, busy ${s(p.busySeconds)}: read ${s(p.phases.readSeconds)}, compute ${s(p.phases.computeSeconds)}, write ${s(p.phases.writeSeconds)}`,
  ];
  for (const n of p.nodes) {
    lines.push(
      `  ${n.node}: ${n.items} items, busy ${s(n.busySeconds)}, an item running ${pct(n.occupancy)} of the window`,
    );
  }
  lines.push(`bottleneck: ${p.bottleneck.stage}: ${p.bottleneck.reason}`);
  for (const note of p.notes) lines.push(`note: ${note}`);
  if (p.timeline) {
    lines.push("timeline (s since the job started; read · compute · write in ms):");
    const t = (x: number) => x.toFixed(3).padStart(8);
    const ms = (x: number) => String(Math.round(x));
    for (const r of p.timeline) {
      lines.push(
        `  ${t(r.startSeconds)} → ${t(r.endSeconds)}  ${r.node}  ${r.taskId} #${r.attempt}  ${ms(r.readMs)} · ${ms(r.computeMs)} · ${ms(r.writeMs)}`,
      );
    }
  }
  return lines;
}
