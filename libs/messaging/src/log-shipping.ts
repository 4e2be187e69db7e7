// Centralized logs: a service's pino lines (info and above) published on
// `tessera.log.<service>.<level>` (stream TESSERA_LOGS, searched by `tessera logs`) over a NATS
// connection of their own, so draining or reconnecting the service's main connection never
// delays or drops its last lines: what a shutdown logs still goes out until the very end.
import type { NatsSecurity } from "@tessera/config";
import {
  createLogger,
  type Logger,
  type LogLevel,
  LogShipper,
  type RunServiceOptions,
  runUntilSignal,
} from "@tessera/observability";
import { closeGracefully, connect, type NatsConnection } from "./connection.js";

export interface ServiceLoggingOptions {
  /** `service` field of every line and the subject token (`tessera.log.<service>.<level>`). */
  readonly service: string;
  readonly nodeId: string;
  readonly level: LogLevel;
  /** Ship lines to TESSERA_LOGS (otherwise stdout only). */
  readonly ship: boolean;
  readonly servers: string | readonly string[];
  /** NATS credentials and TLS for the shipping connection (the service's own settings). */
  readonly security?: NatsSecurity;
}

/** A service's logger, plus the start/stop of its shipping connection when shipping is on. */
export class ServiceLogging {
  readonly logger: Logger;
  private readonly shipper: LogShipper | undefined;
  private nc: NatsConnection | undefined;

  constructor(private readonly o: ServiceLoggingOptions) {
    this.shipper = o.ship ? new LogShipper(o.service) : undefined;
    this.logger = createLogger({
      service: o.service,
      nodeId: o.nodeId,
      level: o.level,
      ...(this.shipper ? { shipper: this.shipper } : {}),
    });
  }

  /** Connects and starts shipping (lines logged before this stay local). No-op without `ship`. */
  async start(): Promise<void> {
    if (!this.shipper) return;
    this.nc = await connect({
      servers: this.o.servers,
      name: `tessera-${this.o.service}-${this.o.nodeId}-logs`,
      ...(this.o.security ? { security: this.o.security } : {}),
    });
    this.shipper.attach(this.nc);
  }

  /** Flushes what was shipped and closes the connection; later lines stay local. */
  async stop(): Promise<void> {
    this.shipper?.detach();
    if (this.nc) await closeGracefully(this.nc);
  }

  /**
   * runUntilSignal with shipping around the service: it starts before the service and stops
   * after it, so start-up and shutdown lines reach TESSERA_LOGS too.
   */
  runUntilSignal<S>(
    opts: Omit<RunServiceOptions<S>, "logger" | "start"> & {
      readonly start: (logger: Logger) => Promise<S>;
    },
  ): Promise<number> {
    return runUntilSignal({
      ...opts,
      logger: this.logger,
      start: async () => {
        await this.start();
        return opts.start(this.logger);
      },
      stop: async (service) => {
        await opts.stop(service);
        await this.stop();
      },
    });
  }
}
