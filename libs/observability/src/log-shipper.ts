/**
 * Ships log lines to NATS subject `tessera.log.<service>.<level>` (stream TESSERA_LOGS).
 *
 * Logging must never block or fail because the bus is down, so the shipper is a plain
 * synchronous sink that hands each line to a core-NATS publish (which only buffers) and
 * swallows every error, counting what it dropped instead. Until `attach()` is called (the
 * logger usually exists before the connection does) lines are dropped and counted.
 */

/** The one thing the shipper needs from a NATS connection (NatsConnection satisfies it). */
export interface LogPublisher {
  publish(subject: string, payload: Uint8Array): void;
  isClosed?(): boolean;
}

const LEVEL_LABELS: Readonly<Record<number, string>> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

const LEVEL_RE = /"level":(\d+)/;
const encoder = new TextEncoder();

export class LogShipper {
  private publisher: LogPublisher | undefined;
  private shippedCount = 0;
  private droppedCount = 0;
  private readonly service: string;

  constructor(service: string) {
    // Subject tokens cannot contain dots or wildcards; map anything odd to "_".
    this.service = service.replace(/[^A-Za-z0-9_-]/g, "_") || "unknown";
  }

  /** Start publishing through `publisher` (e.g. a NatsConnection). */
  attach(publisher: LogPublisher): void {
    this.publisher = publisher;
  }

  /** Stop publishing (e.g. before closing the connection). */
  detach(): void {
    this.publisher = undefined;
  }

  /** Lines published / dropped (no publisher, closed connection, or a publish error). */
  get stats(): { shipped: number; dropped: number } {
    return { shipped: this.shippedCount, dropped: this.droppedCount };
  }

  /** pino destination entry point: one JSON line per call. Never throws. */
  write(line: string): void {
    const publisher = this.publisher;
    if (!publisher || publisher.isClosed?.()) {
      this.droppedCount++;
      return;
    }
    try {
      const level = LEVEL_LABELS[Number(LEVEL_RE.exec(line)?.[1])] ?? "info";
      publisher.publish(`tessera.log.${this.service}.${level}`, encoder.encode(line));
      this.shippedCount++;
    } catch {
      this.droppedCount++;
    }
  }
}
