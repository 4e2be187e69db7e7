// `tessera logs`: search the centralized logs (stream TESSERA_LOGS, subjects
// `tessera.log.<service>.<level>`, one pino JSON line per message) by service, level, job, task,
// node, text and time; `--follow` keeps printing new lines. The filtering and formatting are pure
// (tested without NATS); reading is an ordered consumer that starts at `--since`.

import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { NatsSecurity } from "@tessera/config";
import { closeGracefully, connect } from "@tessera/messaging";
import { LOGS_STREAM } from "@tessera/protocol";
import { intArg, parseSince } from "./args.js";
import { CliError } from "./client.js";
import { natsConnectError } from "./security-options.js";

const LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};
const decoder = new TextDecoder();
const LEVEL_NAMES = new Map(Object.entries(LEVELS).map(([k, v]) => [v, k]));
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

export interface LogsQuery {
  /** Subject token of the service (`tessera.log.<service>.>`); undefined = every service. */
  readonly service?: string;
  /** Lines at this pino level or above. */
  readonly minLevel: number;
  readonly jobId?: string;
  readonly taskId?: string;
  readonly node?: string;
  /** Case-insensitive text anywhere in the line. */
  readonly grep?: string;
  /** Epoch ms: lines stored at or after it. */
  readonly since: number;
  /** Print at most the last `limit` matching lines (not with --follow). */
  readonly limit: number;
  readonly follow: boolean;
}

/** A shipped line, as pino wrote it (validated field by field where it is read). */
export type LogLine = Record<string, unknown>;

/** The command's flags as commander hands them over (unvalidated). */
export interface LogsFlags {
  service?: string;
  level?: string;
  job?: string;
  task?: string;
  node?: string;
  grep?: string;
  since?: string;
  limit?: string;
  follow?: boolean;
}

export function parseLogsArgs(o: LogsFlags, now: number): LogsQuery {
  for (const [flag, v] of [
    ["--service", o.service],
    ["--node", o.node],
  ] as const) {
    if (v !== undefined && !TOKEN.test(v)) {
      throw new CliError(`${flag}: ${JSON.stringify(v)} must be 1..64 of [A-Za-z0-9_-]`, 2);
    }
  }
  const level = o.level ?? "info";
  const minLevel = LEVELS[level];
  if (minLevel === undefined) {
    throw new CliError(
      `--level: ${JSON.stringify(level)} must be one of ${Object.keys(LEVELS).join(", ")}`,
      2,
    );
  }
  return {
    ...(o.service !== undefined ? { service: o.service } : {}),
    minLevel,
    ...(o.job !== undefined ? { jobId: o.job } : {}),
    ...(o.task !== undefined ? { taskId: o.task } : {}),
    ...(o.node !== undefined ? { node: o.node } : {}),
    ...(o.grep !== undefined && o.grep !== "" ? { grep: o.grep.toLowerCase() } : {}),
    since: parseSince(o.since ?? "1h", now),
    limit: intArg("--limit", o.limit ?? "200", 1, 1_000_000),
    follow: o.follow === true,
  };
}

/** The subject filter for the query (service in the subject; the rest is matched per line). */
export function logsSubject(q: LogsQuery): string {
  return `tessera.log.${q.service ?? "*"}.>`;
}

/** Parses one stored message; null for a line that is not a JSON object (never thrown). */
export function parseLogLine(text: string): LogLine | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as LogLine) : null;
  } catch {
    return null;
  }
}

export function matches(q: LogsQuery, line: LogLine, raw: string): boolean {
  if (typeof line.level === "number" && line.level < q.minLevel) return false;
  if (q.jobId !== undefined && line.jobId !== q.jobId) return false;
  if (q.taskId !== undefined && line.taskId !== q.taskId) return false;
  if (q.node !== undefined && line.node !== q.node && line.nodeId !== q.node) return false;
  if (q.grep !== undefined && !raw.toLowerCase().includes(q.grep)) return false;
  return true;
}

const SHOWN_APART = new Set(["level", "time", "service", "node", "msg", "pid", "hostname"]);

/** `2026-12-04T14:08:29.123Z INFO  scheduler/scheduler-12 attempt started jobId=… taskId=…` */
export function formatLogLine(line: LogLine): string {
  const time = typeof line.time === "number" ? new Date(line.time).toISOString() : "-";
  const level = (LEVEL_NAMES.get(line.level as number) ?? String(line.level)).toUpperCase();
  const who = [line.service, line.node].filter((x) => x !== undefined).join("/");
  const extras = Object.entries(line)
    .filter(([k]) => !SHOWN_APART.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return [time, level.padEnd(5), who, String(line.msg ?? ""), ...extras].join(" ");
}

export interface LogsResult {
  lines: LogLine[];
  /** Lines that matched (more than `lines` when --limit cut the oldest). */
  matched: number;
  /** Lines read from the stream in the time window. */
  scanned: number;
  since: string;
}

/**
 * Reads TESSERA_LOGS from `since` until caught up and returns the last `limit` matches; with
 * `follow`, then calls `onLine` for every new match until `signal` aborts.
 */
export async function searchLogs(
  servers: readonly string[],
  q: LogsQuery,
  onLine?: (line: LogLine) => void,
  signal?: AbortSignal,
  security: NatsSecurity = {},
): Promise<LogsResult> {
  const nc = await connect({
    servers,
    name: "tessera-cli-logs",
    connectTimeoutMs: 5_000,
    security,
  }).catch((err: unknown) => {
    throw natsConnectError(err);
  });
  try {
    const js = jetstream(nc);
    // An ordered consumer serves fetch or consume, not both: catching up and following use one
    // each, the second starting right after the last message the first read.
    const open = (start: { seq: number } | { time: number }) =>
      js.consumers
        .get(LOGS_STREAM.name, {
          filter_subjects: logsSubject(q),
          ...("seq" in start
            ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.seq }
            : {
                deliver_policy: DeliverPolicy.StartTime,
                opt_start_time: new Date(start.time).toISOString(),
              }),
        })
        .catch((err: unknown) => {
          throw new CliError(
            `cannot read stream ${LOGS_STREAM.name} (${(err as Error).message}); services ship logs there when started with --ship-logs (tessera dev up does)`,
          );
        });
    const consumer = await open({ time: q.since });
    let lastSeq = 0;
    const found: LogLine[] = [];
    let matched = 0;
    let scanned = 0;
    const take = (data: Uint8Array): LogLine | null => {
      const raw = decoder.decode(data);
      const line = parseLogLine(raw);
      scanned++;
      if (!line || !matches(q, line, raw)) return null;
      matched++;
      return line;
    };
    // Catch up: pull until the consumer says nothing is pending (or a pull comes back empty).
    for (;;) {
      let got = 0;
      let pending = 0;
      for await (const m of await consumer.fetch({ max_messages: 1_000, expires: 1_000 })) {
        got++;
        pending = m.info.pending;
        lastSeq = m.info.streamSequence;
        const line = take(m.data);
        if (line) {
          found.push(line);
          if (found.length > q.limit) found.shift();
        }
        if (pending === 0) break;
      }
      if (got === 0 || pending === 0) break;
    }
    const result: LogsResult = {
      lines: found,
      matched,
      scanned,
      since: new Date(q.since).toISOString(),
    };
    if (q.follow && onLine) {
      for (const line of found) onLine(line);
      const follower = await open(lastSeq > 0 ? { seq: lastSeq + 1 } : { time: q.since });
      const messages = await follower.consume();
      signal?.addEventListener("abort", () => void messages.close());
      for await (const m of messages) {
        const line = take(m.data);
        if (line) onLine(line);
      }
    }
    return result;
  } finally {
    await closeGracefully(nc);
  }
}
