// A local Tessera cluster as child processes: nats-server (from the PATH, unless given a URL),
// consensus peers, the scheduler, the storage-manager and agents (and, with `--storage s3` and no
// S3 configured, a local S3 endpoint: local-s3.ts). Used by `tessera dev up` and by
// `npm start` (scripts/start.mjs). Every process logs to <data>/logs/<name>.log; the cluster's
// endpoints are written to <data>/tessera-dev.json so other `tessera` commands find it.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  API_CA_ENV,
  API_TOKEN_ENV,
  type ApiTlsFiles,
  apiScheme,
  apiTlsEnv,
  bearerHeader,
  type ClusterTlsFiles,
  clusterTlsEnv,
  type NatsSecurity,
  natsSecurityEnv,
  natsSecurityFromEnv,
  natsSecurityIsSet,
  withTileBufferMalloc,
} from "@tessera/config";
import {
  type ApiFetch,
  apiFetcher,
  fetchFailureReason,
  untrustedCertificate,
} from "@tessera/consensus/api-fetch";
import type { DevUpArgs } from "./args.js";
import { apiCa, apiToken, CliError } from "./client.js";
import { makeDevSecrets } from "./dev-secrets.js";
import { restartDelay } from "./restart-policy.js";
import { resolveApiTls } from "./security-options.js";

export const DEV_STATE_FILE = "tessera-dev.json";

/** Where `dev up` keeps its data when --data is not given (wiped at each start). */
export function defaultDataDir(): string {
  return join(tmpdir(), "tessera-dev");
}

export interface DevClusterInfo {
  nats: string;
  /** pid of the nats-server this cluster started (absent with `--nats URL`). */
  natsPid?: number;
  http: string;
  peers: { id: number; pid: number; grpc: string; http: string }[];
  /** `http`: the agent's /healthz /readyz /metrics. */
  agents: { id: string; pid: number; http: string }[];
  /** The first scheduler (`schedulers[0]`). */
  scheduler: { pid: number; http: string };
  /** Every scheduler instance (`--schedulers N`): `scheduler`, `scheduler-2`, … */
  schedulers: { id: string; pid: number; http: string }[];
  storageManager: { pid: number; http: string };
  dataDir: string;
  /** The local S3 endpoint this cluster started (`--storage s3` with no S3 configured). */
  s3?: LocalS3Info;
}

export interface LocalS3Info {
  endpoint: string;
  bucket: string;
  pid: number;
  /** Where its objects are (a directory per bucket). */
  directory: string;
}

/** The one account s3rver checks request signatures against (local-s3.ts). */
const LOCAL_S3_ACCOUNT = { id: "S3RVER", secret: "S3RVER", region: "us-east-1" } as const;

/**
 * The environment a client needs to reach a dev cluster's local S3: its endpoint and account.
 * Empty when the cluster has none.
 */
export function localS3Env(s3: LocalS3Info | undefined): Record<string, string> {
  if (!s3) return {};
  return {
    TESSERA_S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_S3_ACCOUNT.id,
    AWS_SECRET_ACCESS_KEY: LOCAL_S3_ACCOUNT.secret,
    AWS_REGION: LOCAL_S3_ACCOUNT.region,
  };
}

/**
 * The variables that point every `tessera` command (and any S3 client) at this dev cluster:
 * what `tessera dev env` prints for a shell to export.
 */
export function devClusterEnv(state: DevState): Record<string, string> {
  return {
    TESSERA_SERVER: state.peers.map((p) => p.http).join(","),
    TESSERA_NATS_URL: state.nats,
    TESSERA_STORAGE: state.storage,
    ...natsSecurityEnv(state.natsSecurity ?? {}),
    ...(state.apiTokenFile !== undefined ? { [API_TOKEN_ENV]: state.apiTokenFile } : {}),
    ...(state.apiCaFile !== undefined ? { [API_CA_ENV]: state.apiCaFile } : {}),
    ...localS3Env(state.s3),
  };
}

/** What <data>/tessera-dev.json holds: the info line plus what other commands need. */
export interface DevState extends DevClusterInfo {
  /** pid of the `tessera dev up` process. */
  pid: number;
  /** `--storage` spec the services use (fs:<dir>, s3:<bucket>, gcs:<bucket>). */
  storage: string;
  logs: string;
  /** The NATS credential and TLS files the services use (paths; absent for a plain NATS). */
  natsSecurity?: NatsSecurity;
  /** The HTTP API's bearer token file (absent: an open API). */
  apiTokenFile?: string;
  /** The CA of the peers' HTTPS certificate (absent: plain HTTP, or the system's roots). */
  apiCaFile?: string;
}

export interface DevClusterOptions extends DevUpArgs {
  /** Progress lines (not with --json). */
  readonly onStatus?: (line: string) => void;
  /** Agent execution provider (default auto). */
  readonly agentEp?: "auto" | "cpu" | "cuda";
  /** How long to wait for the whole cluster to become ready (default 120 s). */
  readonly readyTimeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** NATS credentials and TLS for every service (with `nats`: an external, secured server). */
  readonly natsSecurity?: NatsSecurity;
  /** Mutual TLS on the peers' gRPC, for the peers and the scheduler (`--cluster-tls-*`). */
  readonly clusterTls?: ClusterTlsFiles;
  /** The consensus HTTP API's bearer token file, for the peers, the scheduler and the probes. */
  readonly apiTokenFile?: string;
  /** HTTPS on the peers' HTTP API (`--api-tls-cert/-key`). */
  readonly apiTls?: ApiTlsFiles;
  /** The CA of that certificate, for the scheduler, the probes and the CLI (`--api-ca`). */
  readonly apiCaFile?: string;
  /**
   * Every link secured with secrets made in <data>/secrets (dev-secrets.ts): sets all of the
   * above, and the nats-server started here requires TLS and a password.
   */
  readonly secure?: boolean;
  /** A nats-server config file for the server started here (`--secure`'s). */
  readonly natsConfigFile?: string;
}

interface Managed {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly log: string;
  /** The running process (a new one after each restart). */
  proc: ChildProcess;
  exited: boolean;
  code: number | null;
  startedAt: number;
  /** Wait before the last restart (ms); doubles while the process keeps dying young. */
  restartDelayMs: number;
}

const require = createRequire(import.meta.url);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The built `dist/main.js` of a workspace service package. */
export function serviceMain(pkg: string): string {
  let index: string;
  try {
    index = require.resolve(pkg);
  } catch {
    throw new CliError(
      `${pkg} is not built; run \`pnpm turbo run build --filter @tessera/cli...\` first`,
    );
  }
  // dist/index.js (or src/index.ts under the development condition) → dist/main.js.
  const main = join(dirname(index), "..", "dist", "main.js");
  if (!existsSync(main)) {
    throw new CliError(`${main} is missing; build ${pkg} first (pnpm turbo run build)`);
  }
  return main;
}

/** Ports Linux hands out for port 0 and outgoing connections (ip_local_port_range). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low as number, high as number];
  } catch {
    // Not Linux: the IANA dynamic range.
  }
  return [49152, 65535];
}

const LISTEN_PORTS_FROM = 10_000;
const handedOut = new Set<number>();

/**
 * Ports `fetch` refuses to connect to ("bad port", the Fetch standard's port blocking; Node's
 * undici applies it): a peer listening on one is unreachable for the CLI and the services. 10080
 * is inside the range handed out below: a CI run's cluster waited 180 s for a leader there.
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
  103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465,
  512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993,
  995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
  6669, 6679, 6697, 10080,
]);

function canListen(port: number): Promise<boolean> {
  return new Promise((resolveOk) => {
    const srv = createServer();
    srv.once("error", () => resolveOk(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolveOk(true)));
  });
}

/**
 * A free TCP port on 127.0.0.1 for a process the dev cluster is about to start. Chosen BELOW the
 * ephemeral range: the peers connect to each other while some have not bound yet, and an
 * outgoing connection's source port (always ephemeral) could otherwise take a port reserved for
 * a peer still starting (seen as EADDRINUSE in CI). Never the same port twice per process.
 */
export async function freePort(random: () => number = Math.random): Promise<number> {
  const [low] = ephemeralRange();
  const span = low - LISTEN_PORTS_FROM;
  for (let i = 0; span > 1_000 && i < 100; i++) {
    const port = LISTEN_PORTS_FROM + Math.floor(random() * span);
    if (FETCH_BLOCKED_PORTS.has(port) || handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  // No room below the ephemeral range: let the kernel pick one.
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolvePort(port));
    });
  });
}

function tcpReachable(host: string, port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createConnection({ host, port });
    s.once("connect", () => {
      s.destroy();
      r(true);
    });
    s.once("error", () => r(false));
  });
}

/** GET `url`: whether it answered 2xx, and what it said (status and body, or the error). */
async function httpProbe(
  url: string,
  get: ApiFetch = apiFetcher(),
): Promise<{ ok: boolean; said: string }> {
  try {
    const res = await get(url, { signal: AbortSignal.timeout(2_000) });
    const body = (await res.text()).slice(0, 300);
    return { ok: res.ok, said: `${res.status} ${body}` };
  } catch (err) {
    // Waiting does not make a certificate trusted: say so now, not when the boot times out.
    if (untrustedCertificate(err)) throw new CliError(`${url}: ${fetchFailureReason(err)}`, 2);
    return { ok: false, said: fetchFailureReason(err) };
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

let deathGuard: string[] | undefined;

/**
 * The prefix that makes a child get SIGTERM when `dev up` itself dies without stopping it
 * (SIGKILL, the OOM killer): util-linux's `setpriv --pdeathsig TERM --`, which sets the
 * parent-death signal and execs the command (same pid). Without it (not Linux, no util-linux)
 * the children of a killed `dev up` keep running. Each child then stops as on `tessera stop`,
 * only all at once instead of agents first.
 */
function parentDeathGuard(): string[] {
  if (deathGuard === undefined) {
    const usable =
      process.platform === "linux" &&
      spawnSync("setpriv", ["--pdeathsig", "TERM", "--", "true"], { stdio: "ignore" }).status === 0;
    deathGuard = usable ? ["setpriv", "--pdeathsig", "TERM", "--"] : [];
  }
  return deathGuard;
}

/** Reads <data>/tessera-dev.json, or undefined. */
export function readDevState(dataDir = defaultDataDir()): DevState | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, DEV_STATE_FILE), "utf8")) as DevState;
  } catch {
    return undefined;
  }
}

export class DevCluster {
  private readonly children: Managed[] = [];
  private stopping: Promise<void> | undefined;
  /** Whether exits are restarted now (`--restart`, once the cluster is up). */
  private supervising = false;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  info: DevClusterInfo | undefined;
  storageSpec = "";
  /** What every service process gets (the caller's env, plus a local S3's when one runs). */
  private serviceEnv: NodeJS.ProcessEnv = {};

  private constructor(
    private readonly o: DevClusterOptions,
    readonly dataDir: string,
  ) {}

  /** Starts everything and waits until the cluster is ready; on failure stops what it started. */
  static async start(o: DevClusterOptions): Promise<DevCluster> {
    const dataDir = resolve(o.data ?? defaultDataDir());
    const previous = readDevState(dataDir);
    if (previous && previous.pid !== process.pid && pidAlive(previous.pid)) {
      throw new CliError(
        `a dev cluster (pid ${previous.pid}) is already running in ${dataDir}; stop it with \`tessera stop\` or pass --data DIR`,
      );
    }
    if (o.data === undefined && existsSync(dataDir)) {
      // The default directory is ours: start fresh so old Raft logs never meet new peers.
      rmSync(dataDir, { recursive: true, force: true });
    }
    mkdirSync(join(dataDir, "logs"), { recursive: true });
    const options = o.secure ? { ...o, ...(await makeDevSecrets(dataDir)) } : o;
    if (o.secure)
      o.onStatus?.(`--secure: certificates, NATS password and API token in ${dataDir}/secrets`);
    const cluster = new DevCluster(options, dataDir);
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Starts local-s3.ts on a free port under <data>/s3 and points every service at it. */
  private async startLocalS3(bucket: string, deadline: number): Promise<LocalS3Info> {
    const port = await freePort();
    const directory = join(this.dataDir, "s3");
    this.status(`starting a local S3 endpoint (s3rver) on 127.0.0.1:${port}`);
    const server = this.spawnService("s3", process.execPath, [
      "--openssl-legacy-provider",
      fileURLToPath(new URL("./local-s3.js", import.meta.url)),
      "--dir",
      directory,
      "--bucket",
      bucket,
      "--port",
      String(port),
    ]);
    await this.waitFor("the local S3", () => tcpReachable("127.0.0.1", port), deadline, [server]);
    const s3: LocalS3Info = {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      pid: server.proc.pid ?? 0,
      directory,
    };
    this.serviceEnv = { ...this.serviceEnv, ...localS3Env(s3) };
    return s3;
  }

  private status(line: string): void {
    this.o.onStatus?.(line);
  }

  private spawnService(name: string, command: string, args: string[]): Managed {
    const log = join(this.dataDir, "logs", `${name}.log`);
    const m: Managed = {
      name,
      command,
      args,
      log,
      proc: this.spawnLogged(command, args, log),
      exited: false,
      code: null,
      startedAt: Date.now(),
      restartDelayMs: 0,
    };
    this.watch(m);
    this.children.push(m);
    return m;
  }

  /** The same command line again (--restart); its log is appended to. */
  private relaunch(m: Managed): void {
    m.proc = this.spawnLogged(m.command, m.args, m.log);
    m.exited = false;
    m.code = null;
    m.startedAt = Date.now();
    this.watch(m);
  }

  private spawnLogged(command: string, args: readonly string[], log: string): ChildProcess {
    const fd = openSync(log, "a");
    const [file = command, ...argv] = [...parentDeathGuard(), command, ...args];
    const proc = spawn(file, argv, {
      stdio: ["ignore", fd, fd],
      env: withTileBufferMalloc(this.serviceEnv),
    });
    closeSync(fd);
    return proc;
  }

  private watch(m: Managed): void {
    const proc = m.proc;
    proc.on("exit", (code, signal) => {
      m.exited = true;
      m.code = code;
      if (this.stopping) return;
      const how = `${m.name} (pid ${proc.pid}) exited (${signal ?? `code ${code}`})`;
      if (this.supervising) {
        this.scheduleRestart(m, how);
      } else {
        process.stderr.write(`tessera dev: ${how}; log: ${m.log}\n`);
      }
    });
    proc.on("error", (err) => {
      m.exited = true;
      process.stderr.write(`tessera dev: ${m.name} could not start: ${err.message}\n`);
    });
  }

  /**
   * `--restart`: what a supervisor (compose's restart: unless-stopped, a Kubernetes pod) does
   * for a crashed process, so that chaos by hand on a dev cluster heals like a deployment. Same
   * command line, data directory, ports and node id; the wait doubles while it keeps dying young.
   */
  private scheduleRestart(m: Managed, how: string): void {
    m.restartDelayMs = restartDelay(m.restartDelayMs, Date.now() - m.startedAt);
    process.stderr.write(
      `tessera dev: ${how}; restarting it in ${(m.restartDelayMs / 1000).toFixed(1)} s (--restart); log: ${m.log}\n`,
    );
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.stopping) return;
      this.relaunch(m);
      this.recordPid(m);
      process.stderr.write(`tessera dev: ${m.name} restarted (pid ${m.proc.pid})\n`);
    }, m.restartDelayMs);
    this.restartTimers.add(timer);
  }

  /** A restarted process's new pid, in `info` and in the state file other commands read. */
  private recordPid(m: Managed): void {
    const info = this.info;
    const pid = m.proc.pid ?? 0;
    if (!info) return;
    if (m.name === "nats") info.natsPid = pid;
    else if (m.name === "storage-manager") info.storageManager.pid = pid;
    else if (m.name === "s3" && info.s3) info.s3.pid = pid;
    for (const s of info.schedulers) if (s.id === m.name) s.pid = pid;
    info.scheduler = firstScheduler(info.schedulers);
    for (const p of info.peers) if (`peer-${p.id}` === m.name) p.pid = pid;
    for (const a of info.agents) if (a.id === m.name) a.pid = pid;
    this.writeState();
  }

  private async waitFor(
    what: string,
    check: () => Promise<boolean>,
    deadline: number,
    watch: readonly Managed[],
    /** What the check saw last, for the timeout's message. */
    detail?: () => string,
  ): Promise<void> {
    for (;;) {
      const dead = watch.find((m) => m.exited);
      if (dead) {
        throw new CliError(
          `${dead.name} exited while waiting for ${what} (code ${dead.code}); last log lines of ${dead.log}:\n${tail(dead.log)}`,
        );
      }
      if (await check()) return;
      if (Date.now() > deadline) {
        const logs = watch.map((m) => `--- ${m.log}\n${tail(m.log, 8)}`).join("\n");
        const seen = detail ? `\n${detail()}` : "";
        throw new CliError(`timed out waiting for ${what}${seen}\n${logs}`);
      }
      await sleep(200);
    }
  }

  private async boot(): Promise<void> {
    const o = this.o;
    const deadline = Date.now() + (o.readyTimeoutMs ?? 120_000);
    // The services read the NATS security settings from these variables, as the CLI does.
    const env: NodeJS.ProcessEnv = {
      ...(o.env ?? process.env),
      ...natsSecurityEnv(o.natsSecurity ?? {}),
      ...clusterTlsEnv(o.clusterTls),
      ...(o.apiTokenFile !== undefined ? { [API_TOKEN_ENV]: o.apiTokenFile } : {}),
      ...apiTlsEnv(o.apiTls, o.apiCaFile),
    };
    this.serviceEnv = env;
    // The peers serve HTTPS when the variables say so (options or the caller's environment).
    const scheme = apiScheme(resolveApiTls({}, env));
    const peerFetch = apiFetcher(apiCa(undefined, env));
    let s3: LocalS3Info | undefined;

    // Storage every service shares.
    if (o.storage === "fs") {
      this.storageSpec = `fs:${join(this.dataDir, "storage")}`;
    } else if (o.storage === "s3") {
      const bucket = env.TESSERA_S3_BUCKET ?? "tessera-dev";
      // No S3 configured: run one here, so `--storage s3` works without MinIO or an account.
      if (!env.TESSERA_S3_ENDPOINT && !env.AWS_REGION)
        s3 = await this.startLocalS3(bucket, deadline);
      this.storageSpec = `s3:${bucket}`;
    } else {
      if (!env.TESSERA_GCS_ENDPOINT && !env.GOOGLE_APPLICATION_CREDENTIALS) {
        throw new CliError(
          "--storage gcs needs TESSERA_GCS_ENDPOINT (fake-gcs-server URL) or GOOGLE_APPLICATION_CREDENTIALS in the environment",
          2,
        );
      }
      this.storageSpec = `gcs:${env.TESSERA_GCS_BUCKET ?? "tessera-dev"}`;
    }

    // NATS.
    let natsUrl = o.nats;
    let natsPid: number | undefined;
    if (natsUrl === undefined) {
      const port = await freePort();
      natsUrl = `nats://127.0.0.1:${port}`;
      this.status(`starting nats-server on ${natsUrl}`);
      const nats = this.spawnService("nats", "nats-server", [
        "-a",
        "127.0.0.1",
        "-p",
        String(port),
        "-js",
        "-sd",
        join(this.dataDir, "nats"),
        "-n",
        "tessera-dev",
        ...(o.natsConfigFile !== undefined ? ["-c", o.natsConfigFile] : []),
      ]);
      await this.waitFor("nats-server", () => tcpReachable("127.0.0.1", port), deadline, [nats]);
      natsPid = nats.proc.pid;
    }

    // Consensus peers.
    const peerPorts: { id: number; grpc: number; http: number }[] = [];
    for (let id = 1; id <= o.peers; id++) {
      peerPorts.push({ id, grpc: await freePort(), http: await freePort() });
    }
    const peersFlag = peerPorts.map((p) => `${p.id}=127.0.0.1:${p.grpc}`).join(",");
    const peersHttpFlag = peerPorts.map((p) => `${p.id}=127.0.0.1:${p.http}`).join(",");
    const consensusMain = serviceMain("@tessera/consensus");
    const peers: Managed[] = [];
    this.status(`starting ${o.peers} consensus peer(s)`);
    for (const p of peerPorts) {
      peers.push(
        this.spawnService(`peer-${p.id}`, process.execPath, [
          consensusMain,
          "--id",
          String(p.id),
          "--peers",
          peersFlag,
          "--peers-http",
          peersHttpFlag,
          "--data",
          join(this.dataDir, `peer-${p.id}`),
          "--http",
          `127.0.0.1:${p.http}`,
          ...natsFlags(natsUrl),
        ]),
      );
    }
    const httpUrls = peerPorts.map((p) => `${scheme}://127.0.0.1:${p.http}`);
    // What each peer's /readyz said last: a boot that times out says which peer and why.
    let lastReady: string[] = [];
    await this.waitFor(
      "a consensus leader",
      async () => {
        const probes = await Promise.all(httpUrls.map((u) => httpProbe(`${u}/readyz`, peerFetch)));
        lastReady = probes.map((p, i) => `peer-${i + 1} /readyz: ${p.said}`);
        return probes.every((p) => p.ok);
      },
      deadline,
      peers,
      () => lastReady.join("\n"),
    );

    // Storage-manager.
    const smPort = await freePort();
    const smHttp = `${scheme}://127.0.0.1:${smPort}`;
    this.status("starting storage-manager");
    const sm = this.spawnService("storage-manager", process.execPath, [
      serviceMain("@tessera/storage-manager"),
      ...natsFlags(natsUrl),
      "--storage",
      this.storageSpec,
      "--http",
      `127.0.0.1:${smPort}`,
    ]);

    // Schedulers: two instances are safe (fencing in the manifest, deduplicated work items).
    const schedulerCount = o.schedulers ?? 1;
    this.status(`starting ${schedulerCount === 1 ? "scheduler" : `${schedulerCount} schedulers`}`);
    const schedulers: { id: string; http: string; m: Managed }[] = [];
    for (let s = 1; s <= schedulerCount; s++) {
      const id = s === 1 ? "scheduler" : `scheduler-${s}`;
      const port = await freePort();
      const m = this.spawnService(id, process.execPath, [
        serviceMain("@tessera/scheduler"),
        ...schedulerArgs({
          natsUrl,
          peersGrpc: peerPorts.map((p) => `127.0.0.1:${p.grpc}`),
          peersHttp: httpUrls,
          httpListen: `127.0.0.1:${port}`,
        }),
      ]);
      schedulers.push({ id, http: `${scheme}://127.0.0.1:${port}`, m });
    }

    // Agents.
    const agentMain = serviceMain("@tessera/agent");
    const agents: Managed[] = [];
    const agentIds: string[] = [];
    const agentHttp: string[] = [];
    this.status(`starting ${o.agents} agent(s)`);
    for (let a = 1; a <= o.agents; a++) {
      const id = `agent-${a}`;
      const httpPort = await freePort();
      agentIds.push(id);
      agentHttp.push(`${scheme}://127.0.0.1:${httpPort}`);
      agents.push(
        this.spawnService(id, process.execPath, [
          agentMain,
          ...natsFlags(natsUrl),
          "--storage",
          this.storageSpec,
          "--node-id",
          id,
          "--pool",
          "cpu",
          "--ep",
          o.agentEp ?? "auto",
          "--drain-grace-ms",
          "3000",
          "--http",
          `127.0.0.1:${httpPort}`,
        ]),
      );
    }

    // Every process serves its HTTP endpoints the way the peers do (the same variables).
    const ready = async (url: string) => (await httpProbe(`${url}/readyz`, peerFetch)).ok;
    await this.waitFor("the storage-manager", () => ready(smHttp), deadline, [sm]);
    for (const s of schedulers) {
      await this.waitFor(`${s.id}`, () => ready(s.http), deadline, [s.m]);
    }
    if (agentIds.length > 0) {
      const headers = bearerHeader(apiToken(undefined, this.serviceEnv));
      await this.waitFor(
        `agents ${agentIds.join(", ")} to join the manifest`,
        async () => {
          try {
            const res = await peerFetch(`${httpUrls[0]}/v1/nodes?consistency=stale`, {
              signal: AbortSignal.timeout(2_000),
              headers,
            });
            const body = (await res.json()) as { nodes?: { nodeId?: string }[] };
            const seen = new Set((body.nodes ?? []).map((n) => n.nodeId));
            return agentIds.every((id) => seen.has(id));
          } catch {
            return false;
          }
        },
        deadline,
        agents,
      );
    }

    const schedulerInfo = schedulers.map((s) => ({
      id: s.id,
      pid: s.m.proc.pid ?? 0,
      http: s.http,
    }));
    this.info = {
      nats: natsUrl,
      ...(natsPid !== undefined ? { natsPid } : {}),
      http: httpUrls[0]!,
      peers: peerPorts.map((p, i) => ({
        id: p.id,
        pid: peers[i]!.proc.pid ?? 0,
        grpc: `127.0.0.1:${p.grpc}`,
        http: httpUrls[i]!,
      })),
      agents: agentIds.map((id, i) => ({
        id,
        pid: agents[i]!.proc.pid ?? 0,
        http: agentHttp[i]!,
      })),
      scheduler: firstScheduler(schedulerInfo),
      schedulers: schedulerInfo,
      storageManager: { pid: sm.proc.pid ?? 0, http: smHttp },
      dataDir: this.dataDir,
      ...(s3 ? { s3 } : {}),
    };
    this.writeState();
    // Up: from now on a process that exits is restarted (--restart), not a failed start.
    this.supervising = this.o.restart === true;
  }

  private writeState(): void {
    if (!this.info) return;
    // What the services were started with (the --nats-… flags or the caller's variables).
    const natsSecurity = natsSecurityFromEnv(this.serviceEnv);
    const state: DevState = {
      ...this.info,
      pid: process.pid,
      storage: this.storageSpec,
      logs: join(this.dataDir, "logs"),
      ...(natsSecurityIsSet(natsSecurity) ? { natsSecurity } : {}),
      ...(this.serviceEnv[API_TOKEN_ENV] ? { apiTokenFile: this.serviceEnv[API_TOKEN_ENV] } : {}),
      ...(this.serviceEnv[API_CA_ENV] ? { apiCaFile: this.serviceEnv[API_CA_ENV] } : {}),
    };
    // Rewritten on every restart while `tessera stop`, scripts and tests may be reading it: a
    // reader must see the old file or the new one, never a truncated one (a test read "" once).
    const file = join(this.dataDir, DEV_STATE_FILE);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(tmp, file);
  }

  /**
   * Sends `signal` to one process of the cluster by name (`nats`, `peer-1`, `scheduler`,
   * `storage-manager`, `agent-2`, …) if it is running, and returns its pid; undefined when it is
   * down (exited, or waiting to be restarted). Through the child's handle, so a pid the OS has
   * reused since is never signalled.
   */
  signal(name: string, signal: NodeJS.Signals): number | undefined {
    const m = this.children.find((c) => c.name === name);
    if (!m || m.exited || m.proc.pid === undefined) return undefined;
    m.proc.kill(signal);
    return m.proc.pid;
  }

  /** SIGTERM to everything (agents first, NATS last), SIGKILL what is still up after a grace. */
  stop(graceMs = 15_000): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.restartTimers) clearTimeout(t);
      this.restartTimers.clear();
      const order = ["agent-", "scheduler", "storage-manager", "peer-", "s3", "nats"];
      for (const prefix of order) {
        const group = this.children.filter((c) => c.name.startsWith(prefix) && !c.exited);
        await Promise.all(group.map((c) => stopChild(c, graceMs)));
      }
      try {
        rmSync(join(this.dataDir, DEV_STATE_FILE), { force: true });
      } catch {
        // best effort
      }
    })();
    return this.stopping;
  }
}

async function stopChild(c: Managed, graceMs: number): Promise<void> {
  if (c.exited) return;
  const exited = new Promise<void>((r) => c.proc.once("exit", () => r()));
  c.proc.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (!c.exited) c.proc.kill("SIGKILL");
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * What every service gets with `--nats`: stream replicas to match the NATS cluster (on a NATS
 * cluster, several URLs, streams must be replicated, up to 3, or one service would provision
 * them down to 1 replica), and its logs shipped to TESSERA_LOGS (so `tessera logs` finds every
 * process's lines).
 */
function natsFlags(natsUrl: string): string[] {
  const servers = natsUrl.split(",").filter((u) => u.trim() !== "").length;
  return [
    "--nats",
    natsUrl,
    ...(servers > 1 ? ["--replicas", String(Math.min(3, servers))] : []),
    "--ship-logs",
  ];
}

/** The info line's `scheduler`: the first of `schedulers` (the field predates `--schedulers`). */
function firstScheduler(list: DevClusterInfo["schedulers"]): DevClusterInfo["scheduler"] {
  return { pid: list[0]?.pid ?? 0, http: list[0]?.http ?? "" };
}

/** Flags of `tessera-scheduler` (services/scheduler/README.md). */
function schedulerArgs(o: {
  natsUrl: string;
  peersGrpc: readonly string[];
  peersHttp: readonly string[];
  httpListen: string;
}): string[] {
  return [...natsFlags(o.natsUrl), "--consensus", o.peersHttp.join(","), "--http", o.httpListen];
}
