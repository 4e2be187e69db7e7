// `tessera top [--interval S] [--once] [--json]`: the live dashboard of a running cluster, for a
// terminal. Each poll reads the consensus API with stale reads (any peer answers from its own
// manifest, so the view keeps coming while there is no leader: that is when an operator looks),
// and top-view.ts turns it into a frame. On a terminal the frame is redrawn in place on the
// alternate screen; otherwise (or with --json) one frame per poll is appended to stdout.
import { intArg } from "./args.js";
import { CliError, type ClientOptions, ClusterClient } from "./client.js";
import { readClusterStatus } from "./cluster-view.js";
import {
  INITIAL_TOP_STATE,
  renderTop,
  type TopFrame,
  type TopSample,
  type TopState,
  topStep,
} from "./top-view.js";

export interface TopFlags {
  interval?: string;
  once?: boolean;
  finished?: string;
  json?: boolean;
}

export interface TopArgs {
  readonly intervalMs: number;
  readonly once: boolean;
  readonly maxFinishedJobs: number;
  readonly json: boolean;
}

/** Validates the flags (CliError exit 2 naming the flag). */
export function parseTopArgs(o: TopFlags): TopArgs {
  const interval = o.interval === undefined ? 1 : Number(o.interval);
  if (!Number.isFinite(interval) || interval < 0.1 || interval > 3600) {
    throw new CliError(
      `--interval: ${JSON.stringify(o.interval)} must be a number of seconds between 0.1 and 3600`,
      2,
    );
  }
  const finished = o.finished === undefined ? 5 : intArg("--finished", o.finished, 0, 1000);
  return {
    intervalMs: Math.round(interval * 1000),
    once: o.once === true,
    maxFinishedJobs: finished,
    json: o.json === true,
  };
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * One poll: the cluster (each peer asked for itself), then the nodes and jobs (stale reads): the
 * unfinished jobs and only the `finished` latest finished ones, not a long-lived manifest's
 * whole history every second.
 */
export async function pollTop(
  client: ClusterClient,
  peerTimeoutMs: number,
  finished: number,
): Promise<TopSample> {
  const at = Date.now();
  let cluster: TopSample["cluster"];
  try {
    cluster = await readClusterStatus(client, peerTimeoutMs);
  } catch (err) {
    return { at, cluster: null, nodes: null, jobs: null, error: message(err) };
  }
  const [nodes, jobs] = await Promise.allSettled([
    client.get("/v1/nodes?consistency=stale"),
    client.get(`/v1/jobs?consistency=stale&finished=${finished}`),
  ]);
  const list = (r: PromiseSettledResult<unknown>, field: "nodes" | "jobs") => {
    if (r.status === "rejected") return null;
    const v = (r.value as Record<string, unknown> | null)?.[field];
    return Array.isArray(v) ? (v as unknown[]) : null;
  };
  const failed = [nodes, jobs].find((r) => r.status === "rejected");
  return {
    at,
    cluster,
    nodes: list(nodes, "nodes"),
    jobs: list(jobs, "jobs"),
    ...(failed ? { error: message((failed as PromiseRejectedResult).reason) } : {}),
  };
}

const ALT_SCREEN_ON = "\x1b[?1049h\x1b[?25l";
const ALT_SCREEN_OFF = "\x1b[?25h\x1b[?1049l";
const HOME = "\x1b[H";
const CLEAR_LINE_END = "\x1b[K";
const CLEAR_BELOW = "\x1b[J";

/**
 * Runs the dashboard until SIGINT/SIGTERM (or once). Returns the frame with --once (main prints
 * it with --json); otherwise undefined, having printed every frame itself.
 */
export async function top(
  servers: readonly string[],
  flags: TopFlags,
  access: ClientOptions = {},
): Promise<TopFrame | undefined> {
  const args = parseTopArgs(flags);
  // Short waits: a poll that hangs on a dead peer would freeze the picture it is meant to give.
  const timeoutMs = Math.min(2_000, Math.max(500, args.intervalMs));
  const client = new ClusterClient(servers, { ...access, timeoutMs, retryForMs: 0 });
  let state: TopState = INITIAL_TOP_STATE;

  if (args.once) {
    const sample = await pollTop(client, timeoutMs, args.maxFinishedJobs);
    if (sample.cluster === null) throw new CliError(sample.error ?? "no peer answered");
    const { frame } = topStep(state, sample, args);
    if (!args.json) process.stdout.write(`${renderTop(frame, columns()).join("\n")}\n`);
    return frame;
  }

  const stopped = new AbortController();
  const onSignal = () => stopped.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const redraw = !args.json && process.stdout.isTTY === true;
  if (redraw) process.stdout.write(ALT_SCREEN_ON);
  try {
    while (!stopped.signal.aborted) {
      const started = Date.now();
      const step = topStep(state, await pollTop(client, timeoutMs, args.maxFinishedJobs), args);
      state = step.state;
      if (stopped.signal.aborted) break;
      if (args.json) {
        process.stdout.write(`${JSON.stringify(step.frame)}\n`);
      } else if (redraw) {
        const lines = renderTop(step.frame, columns()).slice(0, rows());
        process.stdout.write(
          `${HOME}${lines.map((l) => `${l}${CLEAR_LINE_END}`).join("\n")}\n${CLEAR_BELOW}`,
        );
      } else {
        process.stdout.write(`${renderTop(step.frame, columns()).join("\n")}\n\n`);
      }
      await sleepUnless(stopped.signal, Math.max(0, args.intervalMs - (Date.now() - started)));
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (redraw) process.stdout.write(ALT_SCREEN_OFF);
  }
  return undefined;
}

function columns(): number {
  return process.stdout.isTTY ? process.stdout.columns || 100 : 160;
}

function rows(): number {
  return process.stdout.isTTY ? process.stdout.rows || 40 : Number.POSITIVE_INFINITY;
}

function sleepUnless(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
