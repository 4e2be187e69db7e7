import type { NatsServerSecurity } from "./nats-config.js";

/** How servers are started: local processes or Docker containers via testcontainers. */
export type HarnessMode = "process" | "containers";

/** One nats-server, local process or container. */
export interface NatsNode {
  /** server_name (JetStream needs it unique in a cluster). */
  readonly name: string;
  /** Client URL, e.g. nats://127.0.0.1:41234 (tls://… for a server that requires TLS). */
  readonly url: string;
  readonly port: number;
  /** HTTP monitoring port (/healthz, /jsz, /varz). */
  readonly monitorPort: number;
  /** JetStream store dir (a host temp dir in process mode, a container path otherwise). */
  readonly storeDir: string;
  /** False between kill()/stop() and restart(). */
  readonly running: boolean;
  /** SIGKILL the server (no graceful shutdown) and wait until it is gone. */
  kill(): Promise<void>;
  /** Start it again with the same ports and store dir; resolves once it accepts clients. */
  restart(): Promise<void>;
  /** Graceful shutdown (SIGTERM, then SIGKILL after a grace period). Keeps the store dir. */
  shutdown(): Promise<void>;
}

/** A single JetStream server. `stop()` shuts it down and removes its temp dir. */
export interface NatsServer extends NatsNode {
  readonly mode: HarnessMode;
  stop(): Promise<void>;
}

/** A JetStream cluster with cluster routes between all members. */
export interface NatsCluster {
  readonly mode: HarnessMode;
  readonly servers: readonly NatsNode[];
  /** Client URLs of every member (pass all of them to `connect`). */
  readonly urls: readonly string[];
  /** Resolves when every running member reports the same JetStream meta leader. */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /** Shut every member down and remove all temp dirs. */
  stop(): Promise<void>;
}

export interface StartNatsServerOptions {
  /** Require TLS and/or credentials from clients (local process mode only). */
  security?: NatsServerSecurity;
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Force a mode; default: env TESSERA_HARNESS, else containers iff Docker answers. */
  mode?: HarnessMode;
  /** How long to wait for readiness (default 20 s). */
  readyTimeoutMs?: number;
}

export interface StartNatsClusterOptions extends Omit<StartNatsServerOptions, "jetstream"> {
  /** Number of members (default 3). */
  size?: number;
}
