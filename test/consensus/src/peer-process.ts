import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { registerCleanup } from "@tessera/harness";
import { ClusterError } from "./errors.js";

/** The built service entry point that every peer process runs. */
export const CONSENSUS_MAIN = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "..",
  "services",
  "consensus",
  "dist",
  "main.js",
);

/*
 * Each peer runs under a small sh supervisor (the same trick as the harness's nats-server): the
 * supervisor holds our stdin pipe and SIGKILLs the peer when it reads EOF, so a peer can never
 * outlive the test process, even when vitest SIGKILLs a hung worker and no exit handler runs. It
 * prints the peer's pid first so kill() signals node itself, appends the peer's stdout and stderr
 * to its log file (nothing flows through our pipes, so a chatty peer can never block on us), and
 * exits only after the peer is reaped, so "exited" means its ports are free again.
 */
const SUPERVISOR = `
log="$1"; shift
exec 3<&0 0</dev/null
"$@" >>"$log" 2>&1 &
pid=$!
echo "$pid"
( while read -r _ <&3; do :; done; kill -9 "$pid" 2>/dev/null ) &
watcher=$!
wait "$pid"
rc=$?
kill "$watcher" 2>/dev/null
exit "$rc"
`;

export interface PeerProcessSpec {
  readonly id: number;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly logPath: string;
  /** Arguments after `node main.js` (built by the cluster from its current membership). */
  readonly args: () => readonly string[];
  readonly env?: Readonly<Record<string, string>> | undefined;
}

/** One consensus peer as a real OS process that can be SIGKILLed, restarted and wiped. */
export class PeerProcess {
  readonly id: number;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly logPath: string;
  /** Times this peer was started (1 after the first start). */
  starts = 0;
  private child: ChildProcess | undefined;
  private pid = 0;
  private exited: Promise<number | null> = Promise.resolve(null);
  private lastExitCode: number | null = null;
  private unregister: () => void = () => {};

  constructor(private readonly spec: PeerProcessSpec) {
    this.id = spec.id;
    this.grpcPort = spec.grpcPort;
    this.httpPort = spec.httpPort;
    this.dataDir = spec.dataDir;
    this.logPath = spec.logPath;
  }

  get grpcAddress(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get exitCode(): number | null {
    return this.lastExitCode;
  }

  /** Starts the process; does not wait for readiness (see ConsensusCluster.waitReady). */
  async start(): Promise<void> {
    if (this.child) throw new ClusterError("state", `peer ${this.id} is already running`);
    if (!existsSync(CONSENSUS_MAIN)) {
      throw new ClusterError(
        "not-built",
        `${CONSENSUS_MAIN} does not exist: build the service first (pnpm turbo run build --filter @tessera/consensus...)`,
      );
    }
    this.starts += 1;
    const args = [CONSENSUS_MAIN, ...this.spec.args()];
    const child = spawn(
      "sh",
      ["-c", SUPERVISOR, "consensus-supervisor", this.logPath, process.execPath, ...args],
      {
        stdio: ["pipe", "pipe", "ignore"],
        env: { ...process.env, ...this.spec.env },
      },
    );
    this.child = child;
    this.lastExitCode = null;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code) => {
        this.lastExitCode = code;
        if (this.child === child) this.child = undefined;
        this.pid = 0;
        this.unregister();
        resolve(code);
      });
    });
    this.unregister = registerCleanup(() => this.signal("SIGKILL"));
    const firstLine = await new Promise<string>((resolve) => {
      const lines = createInterface({ input: child.stdout! });
      lines.once("line", (line) => {
        resolve(line);
        lines.close();
      });
      lines.once("close", () => resolve(""));
    });
    this.pid = Number(firstLine) || 0;
  }

  private signal(signal: NodeJS.Signals): void {
    if (!this.child) return;
    try {
      if (this.pid > 0) process.kill(this.pid, signal);
      else this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGKILL (no shutdown path runs) and wait until the process is reaped. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.signal("SIGKILL");
    await this.exited;
  }

  /** SIGTERM (the service transfers leadership and stops), SIGKILL after `graceMs`. */
  async terminate(graceMs = 10_000): Promise<number | null> {
    if (!this.child) return this.lastExitCode;
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** Deletes the data dir (the peer must be stopped): it comes back with no log and no snapshot. */
  async wipe(): Promise<void> {
    if (this.child) throw new ClusterError("state", `peer ${this.id}: wipe while running`);
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /** The last `bytes` of the peer's log file (stdout + stderr of every start). */
  async logTail(bytes = 4000): Promise<string> {
    try {
      const text = await readFile(this.logPath, "utf8");
      return text.slice(-bytes);
    } catch {
      return "";
    }
  }
}
