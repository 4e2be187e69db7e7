import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { registerCleanup } from "./cleanup.js";
import { HarnessError } from "./errors.js";
import { type NatsNodeConfig, renderNatsConfig } from "./nats-config.js";
import type { NatsNode } from "./types.js";
import { canConnect, isHealthy, metaLeader, waitFor } from "./wait.js";

/** The nats-server binary: env TESSERA_NATS_SERVER, else `nats-server` from PATH. */
export function natsServerBinary(): string {
  return process.env.TESSERA_NATS_SERVER || "nats-server";
}

const STDERR_TAIL_BYTES = 16 * 1024;
const GRACE_MS = 5_000;

/*
 * nats-server runs under a small sh supervisor so it can never outlive the test process, even
 * when that process is SIGKILLed (vitest kills hung workers) and no exit handler runs:
 * the supervisor holds our stdin pipe, and EOF on it (our death) SIGKILLs the server.
 * It prints the server's pid first so kill() signals the server itself, and it exits only
 * after the server is reaped, so "exited" really means the ports are free again.
 */
const SUPERVISOR = `
exec 3<&0 0</dev/null
"$1" -c "$2" &
pid=$!
echo "$pid"
( while read -r _ <&3; do :; done; kill -9 "$pid" 2>/dev/null ) &
watcher=$!
wait "$pid"
rc=$?
kill "$watcher" 2>/dev/null
exit "$rc"
`;

/** A nats-server child process that can be SIGKILLed and restarted on the same ports/store. */
export class NatsProcessNode implements NatsNode {
  readonly name: string;
  readonly port: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  private readonly configPath: string;
  private readonly clustered: boolean;
  private child: ChildProcess | undefined;
  private serverPid = 0;
  private exitCode: number | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stderrTail = "";
  private unregister: () => void = () => {};

  constructor(
    private readonly config: NatsNodeConfig,
    dir: string,
    private readonly readyTimeoutMs: number,
  ) {
    this.name = config.name;
    this.port = config.port;
    this.monitorPort = config.monitorPort;
    this.storeDir = config.storeDir;
    this.configPath = join(dir, `${config.name}.conf`);
    this.clustered = config.cluster !== undefined;
  }

  get url(): string {
    return `${this.config.security?.tls ? "tls" : "nats"}://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Last lines the server wrote (its log), for error messages. */
  get log(): string {
    return this.stderrTail;
  }

  /** Spawn without waiting for readiness (a cluster starts all members, then waits). */
  async spawn(): Promise<void> {
    if (this.child)
      throw new HarnessError("TESSERA_E_HARNESS_STATE", `${this.name} is already running`);
    await writeFile(this.configPath, renderNatsConfig(this.config));
    this.stderrTail = "";
    this.exitCode = null;
    this.serverPid = 0;
    const child = spawn(
      "sh",
      ["-c", SUPERVISOR, "nats-supervisor", natsServerBinary(), this.configPath],
      {
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    this.child = child;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
    });
    this.exited = new Promise<void>((resolve) => {
      child.once("exit", (code) => {
        this.exitCode = code;
        if (this.child === child) this.child = undefined;
        this.unregister();
        resolve();
      });
    });
    this.unregister = registerCleanup(() => this.signal("SIGKILL"));
    const firstLine = await new Promise<string>((resolve) => {
      const lines = createInterface({ input: child.stdout! });
      lines.once("line", (line) => {
        resolve(line); // before close(): close() emits "close" synchronously
        lines.close();
      });
      lines.once("close", () => resolve(""));
    });
    this.serverPid = Number(firstLine) || 0;
  }

  private signal(signal: NodeJS.Signals): void {
    if (!this.child) return;
    try {
      if (this.serverPid > 0) process.kill(this.serverPid, signal);
      else this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** Why the process is not usable, if it died (names a missing binary). */
  startFailure(): HarnessError | undefined {
    if (this.child) return undefined;
    if (this.exitCode === 127) {
      return new HarnessError(
        "TESSERA_E_HARNESS_NO_BINARY",
        `nats-server binary "${natsServerBinary()}" not found: install nats-server (apt install nats-server) or set TESSERA_NATS_SERVER`,
      );
    }
    return new HarnessError(
      "TESSERA_E_HARNESS_START",
      `nats-server ${this.name} exited (code ${this.exitCode}) during start-up:\n${this.stderrTail.slice(-2000)}`,
    );
  }

  /** Accepting client connections; for a standalone server also JetStream-healthy. */
  async waitReady(timeoutMs = this.readyTimeoutMs): Promise<void> {
    await waitFor(
      `nats-server ${this.name} on port ${this.port}`,
      async () =>
        (await canConnect(this.port)) && (this.clustered || (await isHealthy(this.monitorPort))),
      timeoutMs,
      50,
      () => this.startFailure(),
    );
  }

  async restart(): Promise<void> {
    if (this.child) await this.shutdown();
    await this.spawn();
    await this.waitReady();
    if (this.clustered) {
      // Rejoined = it sees a meta leader again (it cannot serve JetStream before that).
      await waitFor(
        `${this.name} to see a JetStream meta leader`,
        async () => (await metaLeader(this.monitorPort)) !== "",
        this.readyTimeoutMs,
        100,
      );
    }
  }

  async kill(): Promise<void> {
    this.signal("SIGKILL");
    await this.exited;
  }

  async shutdown(): Promise<void> {
    if (!this.child) return;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}
