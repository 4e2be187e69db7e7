// A whole local Tessera cluster as real processes for the end-to-end and chaos suites and the
// e2e benchmarks. Start-up is the CLI's own `DevCluster` (what `tessera dev up` runs: nats-server,
// consensus peers, scheduler, storage-manager, agents on fs storage), so the suites exercise the
// code an operator runs. DevCluster has no per-process restart, so right after start this module
// records each process's exact command line (/proc/<pid>/cmdline) and restarts a killed process
// with the same argv (same ports, same data dir), optionally with extra environment.
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { apiCa, apiToken, DevCluster, type DevClusterInfo } from "@tessera/cli";
import { API_CA_ENV, bearerHeader, natsSecurityFromEnv } from "@tessera/config";
import { type ApiFetch, apiFetcher } from "@tessera/consensus/api-fetch";
import { jetstreamManager, provisionStreams } from "@tessera/messaging";
import { connectTo } from "./nats-target.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class E2eError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "E2eError";
  }
}

export interface E2eClusterOptions {
  /** Consensus peers (default 3). */
  readonly peers?: number;
  /** Agents (default 2). */
  readonly agents?: number;
  /**
   * NATS servers to use instead of a nats-server the cluster starts itself (e.g. the urls of a
   * @tessera/harness startNatsCluster). With more than one, every stream is provisioned with
   * `replicas` (default 3) before any service starts, and every service is told the same.
   */
  readonly nats?: readonly string[];
  readonly replicas?: number;
  /** Parent of the cluster's temp data dir (default the OS temp dir). */
  readonly parentDir?: string;
  /** Extra environment for every process. */
  readonly env?: NodeJS.ProcessEnv;
  /** Keep the data dir after stop() (default: removed). */
  readonly keepData?: boolean;
  readonly readyTimeoutMs?: number;
}

export type ProcessKind = "nats" | "peer" | "agent" | "scheduler" | "storage-manager";

/** One service process of the cluster: the DevCluster's original, or our restart of it. */
interface Proc {
  readonly name: string;
  readonly kind: ProcessKind;
  readonly argv: readonly string[];
  readonly log: string;
  pid: number;
  /** Set for processes this module spawned (restarts); DevCluster owns the originals. */
  child: ChildProcess | undefined;
  exited: boolean;
}

function readCmdline(pid: number): string[] {
  const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  return raw.split("\0").filter((s, i, all) => !(s === "" && i === all.length - 1));
}

/** Alive and not a zombie (a SIGKILLed child stays a zombie until Node reaps it). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times (100 on every mainstream architecture). */
const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU seconds a live process has used, from /proc; undefined when unreadable. */
function processCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm) ": state is field 3, utime field 14, stime field 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new E2eError(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(200);
  }
}

/**
 * What the suites' own requests to the consensus HTTP API carry: the bearer token of
 * TESSERA_API_TOKEN_FILE when it is set (a cluster whose API requires one), as the CLI does.
 */
export function apiHeaders(): Record<string, string> {
  return bearerHeader(apiToken(undefined));
}

let trusting: { caFile: string | undefined; fetch: ApiFetch } | undefined;

/**
 * The suites' fetch for the peers' API: trusting the CA that TESSERA_API_CA names when it is
 * set (peers serving HTTPS with a private CA), as the CLI does; one pool per CA file.
 */
export function apiFetch(): ApiFetch {
  const caFile = process.env[API_CA_ENV] || undefined;
  if (trusting === undefined || trusting.caFile !== caFile) {
    trusting = { caFile, fetch: apiFetcher(apiCa(undefined)) };
  }
  return trusting.fetch;
}

async function httpJson(url: string, timeoutMs = 2_000): Promise<unknown> {
  const res = await apiFetch()(url, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: apiHeaders(),
  });
  const text = await res.text();
  if (!res.ok) throw new E2eError(`GET ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as unknown;
}

function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** `argv` with `flag`'s value replaced (the flag must be there). */
function withFlagValue(argv: readonly string[], flag: string, value: string): string[] {
  const i = argv.indexOf(flag);
  if (i < 0 || i + 1 >= argv.length) throw new E2eError(`no ${flag} in ${argv.join(" ")}`);
  return [...argv.slice(0, i + 1), value, ...argv.slice(i + 2)];
}

export class E2eCluster {
  private readonly procs = new Map<string, Proc>();
  private stopped = false;

  private constructor(
    private readonly dev: DevCluster,
    readonly info: DevClusterInfo,
    readonly dataDir: string,
    /** The environment every process of the cluster was started with. */
    readonly processEnv: NodeJS.ProcessEnv,
    private readonly keepData: boolean,
  ) {}

  static async start(o: E2eClusterOptions = {}): Promise<E2eCluster> {
    const dataDir = mkdtempSync(join(o.parentDir ?? tmpdir(), "tessera-e2e-"));
    const env: NodeJS.ProcessEnv = { ...process.env, ...o.env };
    const nats = o.nats && o.nats.length > 0 ? [...o.nats] : undefined;
    if (nats && nats.length > 1) {
      // The services provision streams with their own --replicas (default 1) and a provisioner
      // *updates* a stream whose replica count differs, so every one of them must agree:
      // streams first, then TESSERA_REPLICAS (agent, scheduler, storage-manager) and a consensus
      // config file (the consensus peer reads replicas from flags or --config only).
      const replicas = o.replicas ?? 3;
      const nc = await connectTo(
        { servers: nats, security: natsSecurityFromEnv(env) },
        "tessera-e2e-provision",
      );
      try {
        await provisionStreams(await jetstreamManager(nc), { replicas });
      } finally {
        await nc.close();
      }
      const consensusConfig = join(dataDir, "consensus-config.json");
      writeFileSync(consensusConfig, `${JSON.stringify({ replicas })}\n`);
      env.TESSERA_REPLICAS = String(replicas);
      env.TESSERA_CONSENSUS_CONFIG = consensusConfig;
    }
    const dev = await DevCluster.start({
      peers: o.peers ?? 3,
      agents: o.agents ?? 2,
      storage: "fs",
      nats: nats?.join(","),
      data: join(dataDir, "cluster"),
      agentEp: "cpu",
      env,
      readyTimeoutMs: o.readyTimeoutMs ?? 180_000,
    });
    const info = dev.info;
    if (!info) {
      await dev.stop();
      throw new E2eError("DevCluster started but reported no endpoints");
    }
    const keep = o.keepData ?? process.env.TESSERA_E2E_KEEP === "1";
    const cluster = new E2eCluster(dev, info, dataDir, env, keep);
    const logs = join(info.dataDir, "logs");
    const record = (name: string, kind: ProcessKind, pid: number) => {
      cluster.procs.set(name, {
        name,
        kind,
        argv: readCmdline(pid),
        log: join(logs, `${name}.log`),
        pid,
        child: undefined,
        exited: false,
      });
    };
    try {
      for (const p of info.peers) record(`peer-${p.id}`, "peer", p.pid);
      for (const a of info.agents) record(a.id, "agent", a.pid);
      record("scheduler", "scheduler", info.scheduler.pid);
      record("storage-manager", "storage-manager", info.storageManager.pid);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** `fs:<dir>` spec every service uses. */
  get storageSpec(): string {
    return this.dev.storageSpec;
  }

  /** Root directory of the fs object store. */
  get storageRoot(): string {
    return this.dev.storageSpec.slice("fs:".length);
  }

  /** Every peer's HTTP URL, comma-separated (the CLI's --server). */
  get servers(): string {
    return this.info.peers.map((p) => p.http).join(",");
  }

  get storageManagerHttp(): string {
    return this.info.storageManager.http;
  }

  get schedulerHttp(): string {
    const listen = flagValue(this.proc("scheduler").argv, "--http");
    if (!listen) throw new E2eError("the scheduler was started without --http");
    return `http://${listen}`;
  }

  private proc(name: string): Proc {
    const p = this.procs.get(name);
    if (!p) throw new E2eError(`no process named ${name} (have ${[...this.procs.keys()]})`);
    return p;
  }

  /** The log file of a process (DevCluster's <data>/logs/<name>.log; restarts append to it). */
  logOf(name: string): string {
    return this.proc(name).log;
  }

  /** Waits until `name`'s log has a line matching `re` (after `fromByte`); returns the match. */
  async waitLog(
    name: string,
    re: RegExp,
    timeoutMs = 60_000,
    fromByte = 0,
  ): Promise<RegExpExecArray> {
    let found: RegExpExecArray | null = null;
    await waitUntil(
      `${name}'s log to match ${re}`,
      async () => {
        const text = readFileSync(this.proc(name).log).subarray(fromByte).toString("utf8");
        found = re.exec(text);
        return found !== null;
      },
      timeoutMs,
    );
    return found as unknown as RegExpExecArray;
  }

  /**
   * CPU seconds (user + system) each service process has used so far, by process name (peers,
   * agents, scheduler, storage-manager; not nats-server). Linux only: empty where /proc is not.
   */
  cpuSeconds(): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of this.procs.values()) {
      const s = processCpuSeconds(p.pid);
      if (s !== undefined) out.set(p.name, s);
    }
    return out;
  }

  /**
   * CPU seconds (user + system) of the nats-server the cluster started itself; undefined when it
   * uses external NATS (`nats` option) or where /proc is not.
   */
  natsCpuSeconds(): number | undefined {
    return this.info.natsPid === undefined ? undefined : processCpuSeconds(this.info.natsPid);
  }

  pid(name: string): number {
    return this.proc(name).pid;
  }

  isRunning(name: string): boolean {
    const p = this.proc(name);
    return !p.exited && pidAlive(p.pid);
  }

  /** The peer every reachable peer names as leader (waits for one; default 60 s). */
  async leaderId(timeoutMs = 60_000): Promise<number> {
    let leader = 0;
    await waitUntil(
      "a consensus leader",
      async () => {
        for (const p of this.info.peers) {
          if (!this.isRunning(`peer-${p.id}`)) continue;
          try {
            const v = (await httpJson(`${p.http}/v1/cluster`)) as {
              role?: string;
              id?: number;
            };
            if (v.role === "leader" && typeof v.id === "number") {
              leader = v.id;
              return true;
            }
          } catch {
            // not answering: try the next
          }
        }
        return false;
      },
      timeoutMs,
    );
    return leader;
  }

  /** SIGKILL a process and wait until it is gone. */
  async kill(name: string): Promise<void> {
    const p = this.proc(name);
    if (p.exited || !pidAlive(p.pid)) {
      p.exited = true;
      return;
    }
    process.kill(p.pid, "SIGKILL");
    await waitUntil(
      `${name} (pid ${p.pid}) to exit after SIGKILL`,
      async () => !pidAlive(p.pid),
      15_000,
    );
    p.exited = true;
  }

  /**
   * Starts a killed process again with its original argv (same ports, data dir, node id) and
   * waits until it is ready: a peer answers /healthz, an agent is back in the manifest's node
   * list, the scheduler / storage-manager answer /readyz.
   */
  async restart(name: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    const p = this.proc(name);
    if (!p.exited && pidAlive(p.pid)) throw new E2eError(`${name} is still running`);
    const fd = openSync(p.log, "a");
    // Where this run's output starts in the (appended) log: earlier runs' lines must not count.
    const logStart = statSync(p.log).size;
    const [command, ...args] = p.argv;
    if (!command) throw new E2eError(`${name}: empty command line`);
    const child = spawn(command, args, {
      stdio: ["ignore", fd, fd],
      env: { ...this.processEnv, ...extraEnv },
    });
    closeSync(fd);
    if (child.pid === undefined) throw new E2eError(`${name}: could not spawn ${command}`);
    const next: Proc = { ...p, pid: child.pid, child, exited: false };
    child.on("exit", () => {
      next.exited = true;
    });
    this.procs.set(name, next);
    const alive = async () => {
      if (next.exited) throw new E2eError(`${name} exited during restart; log ${p.log}`);
      return true;
    };
    if (p.kind === "peer") {
      const http = `http://${flagValue(p.argv, "--http")}`;
      await waitUntil(
        `${name} to answer /healthz`,
        async () => (await alive()) && !!(await httpJson(`${http}/healthz`)),
        60_000,
      );
    } else if (p.kind === "agent") {
      await alive();
      // The manifest may still list the killed instance as active, so wait for this process to
      // say it pulls work (a fast job could otherwise run to its end before it connects).
      await this.waitLog(name, /"msg":"agent started"/, 60_000, logStart);
      await this.waitAgentAlive(name);
    } else {
      const http = `http://${flagValue(p.argv, "--http")}`;
      await waitUntil(
        `${name} to answer /readyz`,
        async () => (await alive()) && !!(await httpJson(`${http}/readyz`)),
        60_000,
      );
    }
  }

  /**
   * Starts one more agent: agent-1's command line with its own node id, an ephemeral HTTP port
   * and `extraArgs` (e.g. `["--standby"]`); resolves once the manifest lists it, like restart().
   */
  async addAgent(name: string, extraArgs: readonly string[] = []): Promise<void> {
    if (this.procs.has(name)) throw new E2eError(`a process named ${name} exists already`);
    const template = this.proc("agent-1");
    const argv = withFlagValue(
      withFlagValue(template.argv, "--node-id", name),
      "--http",
      "127.0.0.1:0",
    );
    this.procs.set(name, {
      name,
      kind: "agent",
      argv: [...argv, ...extraArgs],
      log: join(dirname(template.log), `${name}.log`),
      pid: 0,
      child: undefined,
      exited: true,
    });
    await this.restart(name);
  }

  /** Waits until the manifest lists the agent as alive (joined / rejoined). */
  async waitAgentAlive(nodeId: string, timeoutMs = 60_000): Promise<void> {
    await waitUntil(
      `${nodeId} to be alive in the manifest`,
      async () => {
        for (const peer of this.info.peers) {
          if (!this.isRunning(`peer-${peer.id}`)) continue;
          const body = (await httpJson(`${peer.http}/v1/nodes?consistency=stale`).catch(
            () => undefined,
          )) as { nodes?: { nodeId?: string; state?: string }[] } | undefined;
          const n = body?.nodes?.find((x) => x.nodeId === nodeId);
          if (n) return n.state === "active";
        }
        return false;
      },
      timeoutMs,
    );
  }

  /** SIGKILLs the current consensus leader; returns its id. */
  async killLeader(): Promise<number> {
    const id = await this.leaderId();
    await this.kill(`peer-${id}`);
    return id;
  }

  /** Kills everything (restarted processes first, then DevCluster's SIGTERM → SIGKILL). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const ours = [...this.procs.values()].filter((p) => p.child && !p.exited);
    await Promise.all(
      ours.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (!p.child || p.exited) return resolve();
            p.child.once("exit", () => resolve());
            p.child.kill("SIGKILL");
          }),
      ),
    );
    // Short grace: these are throw-away clusters; whatever ignores SIGTERM gets SIGKILL.
    await this.dev.stop(5_000);
    // Belt and braces: nothing of ours may outlive the suite.
    for (const p of this.procs.values()) {
      if (pidAlive(p.pid)) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    if (!this.keepData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
