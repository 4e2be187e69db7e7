// `tessera top`, the pure part: one poll of the consensus API (a TopSample) and what the previous
// polls left (TopState) in, one frame out. Rates are differences between two polls; events
// (leader changes and the time without a leader, peers and nodes failing or coming back, jobs
// changing state) come from comparing them. The shell (top.ts) polls and draws.
import type { ClusterStatus, PeerStatus } from "./cluster-view.js";
import {
  flopsDone,
  formatSeconds,
  isFinishedState,
  type JobProgress,
  jobBasics,
  jobProgress,
  jobTimes,
  progressBar,
} from "./job-view.js";

/** What one poll returned. */
export interface TopSample {
  /** Local clock, ms since the epoch. */
  readonly at: number;
  /** null: no peer answered (`error` says why). */
  readonly cluster: ClusterStatus | null;
  /** GET /v1/nodes `.nodes` and GET /v1/jobs `.jobs`; null when that read failed (`error`). */
  readonly nodes: readonly unknown[] | null;
  readonly jobs: readonly unknown[] | null;
  readonly error?: string;
}

type CompleteSample = TopSample & {
  readonly cluster: ClusterStatus;
  readonly nodes: readonly unknown[];
  readonly jobs: readonly unknown[];
};

const isComplete = (s: TopSample): s is CompleteSample =>
  s.cluster !== null && s.nodes !== null && s.jobs !== null;

/**
 * The leader an operator can reach: the one the answering peer names, if that peer answered
 * for itself as leader. A killed leader is still named by its followers until they elect another.
 */
export function reachableLeader(cluster: ClusterStatus | null): number | null {
  const p = cluster?.peers.find((x) => x.id === cluster.leader);
  return p?.reachable && p.role === "leader" ? p.id : null;
}

export type TopEventKind = "leader" | "peer" | "node" | "job";

export interface TopEvent {
  /** Local clock of the poll that saw it. */
  readonly at: number;
  readonly kind: TopEventKind;
  readonly text: string;
}

/** What a frame carries to the next one. */
export interface TopState {
  /** The last poll that read everything: rates and changes are measured against it. */
  readonly prev: CompleteSample | undefined;
  /** Cluster-wide finished tasks per second, one per answered poll after the first, oldest first. */
  readonly history: readonly number[];
  /** Newest last, at most MAX_EVENTS. */
  readonly events: readonly TopEvent[];
  /** First poll (local ms) that found no leader, while none has been found since. */
  readonly leaderlessSince: number | undefined;
  readonly lastLeader: { readonly id: number; readonly term: number } | undefined;
}

export const INITIAL_TOP_STATE: TopState = {
  prev: undefined,
  history: [],
  events: [],
  leaderlessSince: undefined,
  lastLeader: undefined,
};

export const MAX_EVENTS = 8;
export const HISTORY = 60;

export interface TopNodeRow {
  readonly nodeId: string;
  readonly state: string;
  readonly drained: boolean;
  /** What the drain said, if anything. */
  readonly drainReason: string | null;
  /** Active but offering no slots: a warm standby waiting to be promoted. */
  readonly standby: boolean;
  readonly executionProvider: string | null;
  readonly pool: string | null;
  readonly cloud: string | null;
  readonly region: string | null;
  readonly slots: number;
  readonly liveAttempts: number;
  readonly failReason: string | null;
}

export interface TopJobRow {
  readonly jobId: string;
  readonly state: string;
  readonly n: number;
  readonly tile: number;
  readonly kPerMap: number;
  readonly done: number;
  readonly tasks: number;
  /** done ÷ tasks, 0..1. */
  readonly progress: number;
  /** Over the last poll interval; null on a job's first poll. */
  readonly tasksPerSecond: number | null;
  readonly gflops: number | null;
  /** Remaining tasks at the last interval's rate; null while unknown (or the job is not running). */
  readonly etaSeconds: number | null;
  readonly liveAttempts: number;
  readonly verified: boolean | null;
  readonly digest: string | null;
  readonly failure: string | null;
  /** The leader's clock, ms since the epoch. */
  readonly submittedAt: number | null;
  readonly finishedAt: number | null;
}

export interface TopFrame {
  readonly at: string;
  /** Seconds since the previous answered poll (the rates' window); null on the first. */
  readonly intervalSeconds: number | null;
  readonly cluster:
    | (ClusterStatus & {
        /** The highest commit index any peer reported. */
        readonly commitIndex: number | null;
        readonly entriesPerSecond: number | null;
      })
    | null;
  readonly error: string | null;
  /** Seconds without a leader so far (this poll found none), else null. */
  readonly leaderlessSeconds: number | null;
  readonly totals: {
    readonly tasksPerSecond: number | null;
    readonly gflops: number | null;
    readonly liveAttempts: number;
    /** Slots offered by active, undrained nodes (warm standbys offer none). */
    readonly slots: number;
    /** Nodes offering slots. */
    readonly activeNodes: number;
    readonly runningJobs: number;
  };
  readonly nodes: readonly TopNodeRow[];
  readonly jobs: readonly TopJobRow[];
  readonly throughputHistory: readonly number[];
  readonly events: readonly {
    readonly at: string;
    readonly kind: TopEventKind;
    readonly text: string;
  }[];
}

export interface TopOptions {
  /** Finished jobs shown after the unfinished ones, most recent first (default 5). */
  readonly maxFinishedJobs?: number;
}

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const round = (v: number, digits = 2) => Number(v.toFixed(digits));

function nodeRow(view: unknown): TopNodeRow {
  const v = (view ?? {}) as Record<string, unknown>;
  const labels = (v.labels ?? {}) as Record<string, unknown>;
  const capacity = (v.capacity ?? {}) as Record<string, unknown>;
  const state = str(v.state) ?? "unknown";
  const slots = num(capacity.slots);
  return {
    nodeId: str(v.nodeId) ?? "?",
    state,
    drained: v.drained === true,
    drainReason: str(v.drainReason),
    standby: state === "active" && slots === 0,
    executionProvider: str(v.executionProvider),
    pool: str(labels.pool),
    cloud: str(labels.cloud),
    region: str(labels.region),
    slots,
    liveAttempts: num(v.liveAttempts),
    failReason: str(v.failReason),
  };
}

interface JobSeen {
  readonly p: JobProgress;
  readonly view: unknown;
}

function jobsById(views: readonly unknown[]): Map<string, JobSeen> {
  const out = new Map<string, JobSeen>();
  for (const view of views) {
    const p = jobProgress(view);
    if (p.jobId !== "") out.set(p.jobId, { p, view });
  }
  return out;
}

function jobRow(cur: JobSeen, before: JobSeen | undefined, dt: number | null): TopJobRow {
  const { p, view } = cur;
  const counts = ((view as { counts?: unknown })?.counts ?? {}) as Record<string, unknown>;
  const times = jobTimes(view);
  let tasksPerSecond: number | null = null;
  let gflops: number | null = null;
  if (before && dt !== null && dt > 0) {
    tasksPerSecond = Math.max(0, p.done - before.p.done) / dt;
    gflops = Math.max(0, flopsDone(p) - flopsDone(before.p)) / dt / 1e9;
  }
  const remaining = Math.max(0, p.tasks - p.done);
  const running = p.state === "running";
  const etaSeconds =
    running && tasksPerSecond !== null && tasksPerSecond > 0 ? remaining / tasksPerSecond : null;
  return {
    ...jobBasics(p),
    progress: p.tasks > 0 ? round(Math.min(1, p.done / p.tasks), 4) : 0,
    tasksPerSecond: tasksPerSecond === null ? null : round(tasksPerSecond, 1),
    gflops: gflops === null ? null : round(gflops, 2),
    etaSeconds: etaSeconds === null ? null : round(etaSeconds, 1),
    liveAttempts: num(counts.liveAttempts),
    verified: p.verified,
    digest: p.outputDigest,
    failure: p.failure,
    submittedAt: times.submittedAt,
    finishedAt: times.finishedAt,
  };
}

/** Unfinished jobs by submission, then the most recently finished ones. */
function shownJobs(rows: TopJobRow[], maxFinished: number): TopJobRow[] {
  const unfinished = rows
    .filter((r) => r.finishedAt === null && !isFinishedState(r.state))
    .sort((a, b) => (a.submittedAt ?? 0) - (b.submittedAt ?? 0));
  const finished = rows
    .filter((r) => r.finishedAt !== null || isFinishedState(r.state))
    .sort((a, b) => (b.finishedAt ?? 0) - (a.finishedAt ?? 0))
    .slice(0, maxFinished);
  return [...unfinished, ...finished];
}

function peerEvents(before: readonly PeerStatus[], now: readonly PeerStatus[]): string[] {
  const was = new Map(before.map((p) => [p.id, p]));
  const out: string[] = [];
  for (const p of now) {
    const b = was.get(p.id);
    if (!b) out.push(`peer ${p.id} joined the cluster (${p.role})`);
    else if (b.reachable && !p.reachable) out.push(`peer ${p.id} does not answer`);
    else if (!b.reachable && p.reachable) out.push(`peer ${p.id} answers again (${p.role})`);
  }
  const ids = new Set(now.map((p) => p.id));
  for (const b of before) if (!ids.has(b.id)) out.push(`peer ${b.id} left the cluster`);
  return out;
}

function nodeEvents(before: readonly TopNodeRow[], now: readonly TopNodeRow[]): string[] {
  const was = new Map(before.map((n) => [n.nodeId, n]));
  const out: string[] = [];
  for (const n of now) {
    const b = was.get(n.nodeId);
    if (!b) {
      out.push(
        `${n.nodeId} joined (${n.pool ?? "?"} pool, ${n.standby ? "warm standby" : `${n.slots} slots`})`,
      );
      continue;
    }
    if (b.state !== n.state) {
      out.push(
        `${n.nodeId} ${b.state} → ${n.state}${n.state === "failed" && n.failReason ? `: ${n.failReason}` : ""}`,
      );
    } else if (b.standby && !n.standby && n.state === "active") {
      out.push(`${n.nodeId} promoted from warm standby (${n.slots} slots)`);
    }
    if (b.drained !== n.drained) {
      out.push(
        `${n.nodeId} ${n.drained ? "drained" : "undrained"}${n.drained && n.drainReason ? `: ${n.drainReason}` : ""}`,
      );
    }
  }
  return out;
}

/**
 * Job changes between two polls. A poll lists only the `maxFinished` latest finished jobs
 * (`/v1/jobs?finished=N`), so a finished job missing from it was deleted only if it finished
 * after the oldest one listed (or fewer were listed): otherwise newer ones pushed it out.
 */
function jobEvents(
  before: Map<string, JobSeen>,
  now: Map<string, JobSeen>,
  previousAt: number,
  maxFinished: number,
): string[] {
  const out: string[] = [];
  for (const [id, { p }] of now) {
    const b = before.get(id);
    if (!b) {
      if (!p.terminal) out.push(`${id} submitted (n=${p.n} tile=${p.tile}, ${p.tasks} tasks)`);
      continue;
    }
    if (b.p.state !== p.state) {
      const detail =
        p.state === "succeeded"
          ? p.verified === null
            ? ""
            : ` (${verdict(p.verified)})`
          : p.failure
            ? `: ${p.failure}`
            : "";
      out.push(`${id} ${b.p.state} → ${p.state}${detail}`);
    }
  }
  const finishedNow = [...now.values()].filter((j) => j.p.terminal);
  const oldestListed =
    finishedNow.length < maxFinished
      ? Number.NEGATIVE_INFINITY
      : Math.min(
          ...finishedNow.map((j) => jobTimes(j.view).finishedAt ?? Number.POSITIVE_INFINITY),
        );
  for (const [id, b] of before) {
    if (now.has(id)) continue;
    // Unfinished at the last poll: it finished since, so no earlier than that poll.
    const finishedAt = jobTimes(b.view).finishedAt ?? previousAt;
    if (finishedAt > oldestListed) out.push(`${id} deleted`);
  }
  return out;
}

/** The highest commit index any peer reported (-1: none did). */
function highestCommit(cluster: ClusterStatus | null): number {
  return Math.max(-1, ...(cluster?.peers ?? []).map((p) => p.commitIndex ?? -1));
}

/** One poll → the frame to show and the state for the next poll. */
export function topStep(
  state: TopState,
  sample: TopSample,
  options: TopOptions = {},
): { frame: TopFrame; state: TopState } {
  const maxFinished = options.maxFinishedJobs ?? 5;
  const prev = state.prev;
  const complete = isComplete(sample);
  const leader = reachableLeader(sample.cluster);
  const term = sample.cluster?.term ?? 0;
  const events: TopEvent[] = [];
  const add = (kind: TopEventKind, text: string) => events.push({ at: sample.at, kind, text });

  // Leadership. "No leader" lasts from the first poll that found none to the first that finds
  // one: the observed time without a leader, to within one poll interval.
  let leaderlessSince = state.leaderlessSince;
  let lastLeader = state.lastLeader;
  if (leader === null) {
    if (leaderlessSince === undefined) {
      leaderlessSince = sample.at;
      add(
        "leader",
        sample.cluster
          ? `no leader (term ${term}${sample.cluster.leader !== null ? `; peer ${sample.cluster.leader} was leader and does not answer` : ""})`
          : `no peer answered${sample.error ? `: ${sample.error}` : ""}`,
      );
    }
  } else {
    if (leaderlessSince !== undefined) {
      const gone = (sample.at - leaderlessSince) / 1000;
      add(
        "leader",
        `leader ${leader} (term ${term}) after ${formatSeconds(gone)} without one` +
          (lastLeader && lastLeader.id !== leader ? ` (was ${lastLeader.id})` : ""),
      );
    } else if (lastLeader && (lastLeader.id !== leader || lastLeader.term !== term)) {
      add("leader", `leader ${lastLeader.id} → ${leader} (term ${term})`);
    }
    leaderlessSince = undefined;
    lastLeader = { id: leader, term };
  }

  // A poll that could not read everything shows the last complete one's nodes and jobs, no rates.
  const nodes = (sample.nodes ?? prev?.nodes ?? []).map(nodeRow);
  const jobsNow = jobsById(sample.jobs ?? prev?.jobs ?? []);
  const dt = complete && prev ? (sample.at - prev.at) / 1000 : null;
  const jobsBefore = prev ? jobsById(prev.jobs) : new Map<string, JobSeen>();
  const rows = [...jobsNow.values()].map((j) =>
    jobRow(j, dt === null ? undefined : jobsBefore.get(j.p.jobId), dt),
  );

  if (complete && prev) {
    for (const t of peerEvents(prev.cluster.peers, sample.cluster.peers)) add("peer", t);
    if (prev.cluster.featureLevel !== sample.cluster.featureLevel) {
      add(
        "peer",
        `manifest feature level ${prev.cluster.featureLevel} → ${sample.cluster.featureLevel}`,
      );
    }
    for (const t of nodeEvents(prev.nodes.map(nodeRow), nodes)) add("node", t);
    for (const t of jobEvents(jobsBefore, jobsNow, prev.at, maxFinished)) add("job", t);
  }

  let tasksPerSecond: number | null = null;
  let gflops: number | null = null;
  if (dt !== null && dt > 0) {
    tasksPerSecond = round(
      rows.reduce((s, r) => s + (r.tasksPerSecond ?? 0), 0),
      1,
    );
    gflops = round(
      rows.reduce((s, r) => s + (r.gflops ?? 0), 0),
      2,
    );
  }
  const commitIndex = highestCommit(sample.cluster);
  const prevCommit = highestCommit(prev?.cluster ?? null);
  const usable = nodes.filter((n) => n.state === "active" && !n.drained && !n.standby);
  const history =
    tasksPerSecond === null ? state.history : [...state.history, tasksPerSecond].slice(-HISTORY);
  const allEvents = [...state.events, ...events].slice(-MAX_EVENTS);

  const frame: TopFrame = {
    at: new Date(sample.at).toISOString(),
    intervalSeconds: dt === null ? null : round(dt, 3),
    cluster: sample.cluster
      ? {
          ...sample.cluster,
          leader,
          commitIndex: commitIndex >= 0 ? commitIndex : null,
          entriesPerSecond:
            dt !== null && dt > 0 && commitIndex >= 0 && prevCommit >= 0
              ? round(Math.max(0, commitIndex - prevCommit) / dt, 1)
              : null,
        }
      : null,
    error: sample.error ?? null,
    leaderlessSeconds:
      leaderlessSince === undefined ? null : round((sample.at - leaderlessSince) / 1000, 1),
    totals: {
      tasksPerSecond,
      gflops,
      liveAttempts: nodes.reduce((s, n) => s + n.liveAttempts, 0),
      slots: usable.reduce((s, n) => s + n.slots, 0),
      activeNodes: usable.length,
      runningJobs: rows.filter((r) => r.state === "running").length,
    },
    nodes,
    jobs: shownJobs(rows, maxFinished),
    throughputHistory: history,
    events: allEvents.map((e) => ({
      at: new Date(e.at).toISOString(),
      kind: e.kind,
      text: e.text,
    })),
  };
  return {
    frame,
    state: {
      prev: complete ? sample : prev,
      history,
      events: allEvents,
      leaderlessSince,
      lastLeader,
    },
  };
}

/** A succeeded job's verification verdict in words. */
function verdict(verified: boolean | null): string {
  return verified === null ? "no verdict" : verified ? "verified" : "NOT verified";
}

const SPARK = "▁▂▃▄▅▆▇█";

/** A sparkline of the values (scaled to their maximum). */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((v) =>
      max <= 0 ? SPARK[0] : SPARK[Math.min(SPARK.length - 1, Math.floor((v / max) * SPARK.length))],
    )
    .join("");
}

const clock = (iso: string) => iso.slice(11, 19);

/** The frame as terminal lines, each cut to `width` columns. */
export function renderTop(frame: TopFrame, width = 100): string[] {
  const lines: string[] = [];
  const every = frame.intervalSeconds === null ? "" : `  (rates over ${frame.intervalSeconds}s)`;
  lines.push(`tessera top  ${frame.at.replace("T", " ").slice(0, 19)}Z${every}  Ctrl-C quits`);
  const c = frame.cluster;
  if (!c) {
    lines.push(`cluster  ${frame.error ?? "no peer answered"}`);
  } else {
    const rate = c.entriesPerSecond === null ? "" : ` (+${c.entriesPerSecond}/s)`;
    lines.push(
      `cluster  leader ${c.leader ?? "NONE"}  term ${c.term}  commit ${c.commitIndex ?? "?"}${rate}  level ${c.featureLevel}`,
    );
    // Peers' own levels only while they differ (a rolling upgrade): who holds the level back.
    const mixed =
      new Set(c.peers.flatMap((p) => (p.featureLevel === null ? [] : [p.featureLevel]))).size > 1;
    for (const p of c.peers) {
      const lag =
        c.commitIndex !== null && p.appliedIndex !== null ? c.commitIndex - p.appliedIndex : null;
      lines.push(
        `  peer ${p.id}  ${p.reachable ? p.role.padEnd(9) : "DOWN     "} applied ${p.appliedIndex ?? "?"}` +
          `${lag !== null && lag > 0 ? ` (${lag} behind)` : ""}` +
          `${mixed && p.featureLevel !== null ? `  level ${p.featureLevel}` : ""}  ${p.http ?? ""}`,
      );
    }
  }
  if (frame.leaderlessSeconds !== null) {
    lines.push(`  NO LEADER for ${formatSeconds(frame.leaderlessSeconds)}`);
  }
  const t = frame.totals;
  const rate = t.tasksPerSecond === null ? "-- tasks/s" : `${t.tasksPerSecond.toFixed(1)} tasks/s`;
  const gf = t.gflops === null ? "" : `  ${t.gflops.toFixed(1)} GFLOP/s`;
  lines.push(
    `work     ${rate}${gf}  ${sparkline(frame.throughputHistory.slice(-30))}  ` +
      `live ${t.liveAttempts}/${t.slots} slots on ${t.activeNodes} node(s)  ${t.runningJobs} job(s) running`,
  );
  lines.push("NODES");
  if (frame.nodes.length === 0) lines.push("  (none registered)");
  for (const n of frame.nodes) {
    const state = n.standby ? "standby" : n.drained ? `${n.state}, drained` : n.state;
    const where = [n.pool, n.cloud, n.region].filter((x) => x !== null).join("/");
    lines.push(
      `  ${n.nodeId.padEnd(12)} ${state.padEnd(15)} ${(n.executionProvider ?? "?").padEnd(5)} ${where.padEnd(20)} ` +
        `slots ${n.slots}  live ${n.liveAttempts}${n.state === "failed" && n.failReason ? `  ${n.failReason}` : ""}` +
        `${n.drained && n.drainReason ? `  drained: ${n.drainReason}` : ""}`,
    );
  }
  lines.push("JOBS");
  if (frame.jobs.length === 0) lines.push("  (none)");
  for (const j of frame.jobs) {
    const head = `  ${j.jobId.padEnd(12)} ${j.state.padEnd(10)}`;
    const spec = `n=${j.n} tile=${j.tile}`;
    if (j.finishedAt === null && !isFinishedState(j.state)) {
      const speed =
        j.tasksPerSecond === null
          ? ""
          : `  ${j.tasksPerSecond.toFixed(1)} tasks/s  ${(j.gflops ?? 0).toFixed(1)} GFLOP/s`;
      const eta = j.etaSeconds === null ? "" : `  ETA ${formatSeconds(j.etaSeconds)}`;
      lines.push(
        `${head} ${progressBar(j.progress, 20)} ${j.done}/${j.tasks}${speed}${eta}  live ${j.liveAttempts}  ${spec}`,
      );
    } else {
      const outcome = j.state === "succeeded" ? verdict(j.verified) : (j.failure ?? "");
      const digest = j.digest ? `  digest ${j.digest.slice(0, 12)}…` : "";
      lines.push(`${head} ${j.done}/${j.tasks}  ${outcome}${digest}  ${spec}`);
    }
  }
  if (frame.events.length > 0) {
    lines.push("EVENTS");
    for (const e of frame.events) lines.push(`  ${clock(e.at)}  ${e.text}`);
  }
  return lines.map((l) => (l.length > width ? l.slice(0, Math.max(1, width - 1)) + "…" : l));
}
