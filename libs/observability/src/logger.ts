import pino, { type DestinationStream, type Level, type Logger } from "pino";
import type { LogShipper } from "./log-shipper.js";

export type { Logger } from "pino";
export type LogLevel = Level | "silent";

export interface LoggerOptions {
  /** Service name; becomes the `service` field of every line. */
  service: string;
  /** Minimum level written (default "info"). */
  level?: LogLevel;
  /** Node id; becomes the `node` field of every line. */
  nodeId?: string;
  /** Where lines go (default: stdout). Tests pass a capturing stream. */
  destination?: DestinationStream;
  /** Also ship lines at or above `shipLevel` to NATS through this shipper. */
  shipper?: LogShipper;
  /** Minimum level shipped (default "info"), so debug chatter stays local. */
  shipLevel?: Level;
}

/** Correlation ids a child logger may carry; names are shared by every service. */
export interface LogContext {
  jobId?: string;
  taskId?: string;
  attempt?: number;
  nodeId?: string;
  itemId?: string;
  /** Raft term / log index. */
  term?: number;
  index?: number;
}

/** A pino JSON logger with `service` (and `node`) on every line. */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? "info";
  const base: Record<string, string> = { service: options.service };
  if (options.nodeId !== undefined) base.node = options.nodeId;
  const out = options.destination ?? pino.destination({ dest: 1, sync: true });
  const destination = options.shipper
    ? pino.multistream([
        { level: level === "silent" ? "fatal" : level, stream: out },
        { level: options.shipLevel ?? "info", stream: options.shipper },
      ])
    : out;
  return pino(
    {
      level,
      base,
      timestamp: pino.stdTimeFunctions.epochTime,
      // `err` objects keep their `code` (our error catalogue) through the serializer.
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}

/** A child logger carrying correlation ids (undefined fields are left out). */
export function withContext(logger: Logger, context: LogContext): Logger {
  const bindings: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(context)) {
    if (value !== undefined) bindings[key] = value as string | number;
  }
  return logger.child(bindings);
}
