import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClusterTls } from "@tessera/consensus/client";
import { freePorts, type NatsServer, sleep, startNatsServer } from "@tessera/harness";
import { type LinkFaults, putFaults } from "./api.js";
import { ClusterError } from "./errors.js";
import { type InfoReply, ManifestClients } from "./grpc-client.js";
import { httpJson } from "./http.js";
import { PeerProcess } from "./peer-process.js";

export interface StartClusterOptions {
  /** Number of voting peers (3 or 5 in the suites). */
  readonly size: number;
  /** Label for the temp dir and error messages (e.g. "leader-kills-3"). */
  readonly name: string;
  /**
   * NATS for JetStream ingestion: a running server to share, `false` for none (the peers run
   * without --nats), or undefined to start a private one that stop() shuts down.
   */
  readonly nats?: NatsServer | false | undefined;
  /** Written to `<dir>/consensus.json` and passed with --config (same object for every peer). */
  readonly config?: Readonly<Record<string, unknown>> | undefined;
  /** Extra flags for every peer, after the standard ones. */
  readonly extraArgs?: readonly string[] | undefined;
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** How long start() waits for every peer to answer and a leader to exist (default 60 s). */
  readonly readyTimeoutMs?: number | undefined;
  /** The TLS of its status polls: the peers' mutual TLS when extraArgs turn it on. */
  readonly clusterTls?: ClusterTls | undefined;
}

export interface WaitLeaderOptions {
  /** Peers not to accept as leader (e.g. the one just killed, in case its view is stale). */
  readonly exclude?: readonly number[];
  /** Only a leader in a term above this (default 0). */
  readonly minTerm?: number;
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

export interface LeaderInfo {
  readonly peer: PeerProcess;
  readonly term: number;
}

const START_ATTEMPTS = 3;

/**
 * N consensus peers as real processes on free loopback ports, each with its own temp data dir
 * and a log file, optionally fed by a real nats-server. Peers can be SIGKILLed, restarted,
 * wiped (data dir deleted, rejoin from a snapshot) and partitioned via the fault-injection
 * admin endpoint. stop() kills everything and removes the temp dir unless logs are kept.
 */
export class ConsensusCluster {
  readonly peers: PeerProcess[] = [];
  /**
   * Status polls go through gRPC Info: it reads the peer's Raft status only, whereas GET
   * /v1/cluster?digest=1 computes the FSM digest, which is expensive enough that frequent polling
   * would starve the peer (and so change what the test observes).
   */
  readonly grpc: ManifestClients;
  private ownNats = false;
  private stopped = false;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly nats: NatsServer | undefined,
    clusterTls: ClusterTls | undefined,
  ) {
    this.grpc = new ManifestClients(clusterTls);
  }

  static async start(options: StartClusterOptions): Promise<ConsensusCluster> {
    const dir = await mkdtemp(join(tmpdir(), `tessera-consensus-${options.name}-`));
    let nats: NatsServer | undefined;
    let ownNats = false;
    if (options.nats === undefined) {
      nats = await startNatsServer({ mode: "process" });
      ownNats = true;
    } else if (options.nats !== false) {
      nats = options.nats;
    }
    for (let attempt = 1; ; attempt++) {
      const cluster = new ConsensusCluster(options.name, dir, nats, options.clusterTls);
      cluster.ownNats = ownNats;
      try {
        await cluster.launch(options, attempt);
        return cluster;
      } catch (err) {
        const portRace = await cluster.portRaceLost();
        cluster.grpc.close();
        await cluster.killAll();
        // Another process took one of our probed ports before a peer bound it: fresh ports.
        if (portRace && attempt < START_ATTEMPTS) continue;
        if (ownNats) await nats?.stop();
        throw err;
      }
    }
  }

  private async launch(options: StartClusterOptions, attempt: number): Promise<void> {
    const ports = await freePorts(options.size * 2);
    const configPath = join(this.dir, "consensus.json");
    if (options.config) await writeFile(configPath, JSON.stringify(options.config, null, 2));
    const logDir = join(this.dir, "logs");
    await mkdir(logDir, { recursive: true });
    for (let i = 0; i < options.size; i++) {
      const id = i + 1;
      const peer = new PeerProcess({
        id,
        grpcPort: ports[2 * i]!,
        httpPort: ports[2 * i + 1]!,
        dataDir: join(this.dir, `data-${id}`),
        logPath: join(logDir, `peer-${id}.attempt-${attempt}.log`),
        env: { TESSERA_LOG_LEVEL: "info", ...options.env },
        args: () => [
          "--id",
          String(id),
          "--peers",
          this.peersFlag(),
          // Without it a follower guesses the leader's HTTP as its gRPC port + 1000 (the
          // documented default), which these random ports never match: redirects would fail.
          "--peers-http",
          this.peersHttpFlag(),
          "--data",
          join(this.dir, `data-${id}`),
          "--http",
          `127.0.0.1:${ports[2 * i + 1]!}`,
          ...(this.nats ? ["--nats", this.nats.url] : []),
          ...(options.config ? ["--config", configPath] : []),
          ...(options.extraArgs ?? []),
        ],
      });
      this.peers.push(peer);
    }
    await Promise.all(this.peers.map((p) => p.start()));
    const timeout = options.readyTimeoutMs ?? 60_000;
    await Promise.all(this.peers.map((p) => this.waitReady(p, timeout)));
    await this.waitForLeader({ timeoutMs: timeout });
  }

  /** `1=127.0.0.1:7001,2=...`: the static bootstrap membership. */
  peersFlag(): string {
    return this.peers.map((p) => `${p.id}=${p.grpcAddress}`).join(",");
  }

  /** `1=127.0.0.1:8001,2=...`: where each bootstrap peer serves HTTP (follower redirects). */
  peersHttpFlag(): string {
    return this.peers.map((p) => `${p.id}=127.0.0.1:${p.httpPort}`).join(",");
  }

  peer(id: number): PeerProcess {
    const p = this.peers.find((x) => x.id === id);
    if (!p) throw new ClusterError("state", `${this.name}: no peer ${id}`);
    return p;
  }

  running(): PeerProcess[] {
    return this.peers.filter((p) => p.running);
  }

  private async portRaceLost(): Promise<boolean> {
    for (const p of this.peers) if ((await p.logTail(20_000)).includes("EADDRINUSE")) return true;
    return false;
  }

  /** Waits until the peer answers gRPC Info and HTTP /healthz (it may not know a leader yet). */
  async waitReady(peer: PeerProcess, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!peer.running) {
        throw new ClusterError(
          "start",
          `${this.name}: peer ${peer.id} exited (code ${peer.exitCode}) while starting; log ${peer.logPath}:\n${await peer.logTail()}`,
        );
      }
      const info = await this.grpc.info(peer.grpcAddress, 1_000).catch(() => undefined);
      const health = info
        ? await httpJson("GET", `${peer.httpUrl}/healthz`, undefined, 1_000).catch(() => undefined)
        : undefined;
      if (health?.status === 200) return;
      if (Date.now() > deadline) {
        throw new ClusterError(
          "timeout",
          `${this.name}: peer ${peer.id} did not answer gRPC Info and /healthz within ${timeoutMs} ms; log ${peer.logPath}:\n${await peer.logTail()}`,
        );
      }
      await sleep(50);
    }
  }

  /** Every running peer's own Raft status via gRPC Info (undefined: it did not answer). */
  async views(): Promise<Map<number, InfoReply | undefined>> {
    const running = this.running();
    const views = await Promise.all(
      running.map((p) => this.grpc.info(p.grpcAddress, 2_000).catch(() => undefined)),
    );
    return new Map(running.map((p, i) => [p.id, views[i]]));
  }

  /**
   * Polls until a running peer says it is the leader (above `minTerm`, not excluded) and every
   * other answering peer that knows a leader in that term agrees. Returns it and its term.
   */
  async waitForLeader(options: WaitLeaderOptions = {}): Promise<LeaderInfo> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const interval = options.intervalMs ?? 50;
    const deadline = Date.now() + timeoutMs;
    let last = "";
    for (;;) {
      const found = await this.findLeader(options);
      if (found) return found;
      if (Date.now() > deadline) {
        const views = await this.views();
        last = [...views].map(([id, v]) => `${id}: ${v ? describe(v) : "no answer"}`).join("; ");
        throw new ClusterError(
          "timeout",
          `${this.name}: no leader within ${timeoutMs} ms (${last}); logs in ${this.dir}/logs`,
        );
      }
      await sleep(interval);
    }
  }

  /** One poll of waitForLeader: the agreed leader now, if any. */
  async findLeader(options: WaitLeaderOptions = {}): Promise<LeaderInfo | undefined> {
    const views = await this.views();
    let best: { id: number; term: number } | undefined;
    for (const [id, v] of views) {
      if (v?.role !== "leader") continue;
      if (options.exclude?.includes(id)) continue;
      if (v.term <= (options.minTerm ?? 0)) continue;
      if (!best || v.term > best.term) best = { id, term: v.term };
    }
    if (!best) return undefined;
    for (const v of views.values()) {
      if (v && v.term === best.term && v.leaderId !== 0 && v.leaderId !== best.id) return undefined;
    }
    return { peer: this.peer(best.id), term: best.term };
  }

  /** SIGKILL one peer (no shutdown path runs). */
  async kill(id: number): Promise<void> {
    await this.peer(id).kill();
  }

  /** Start a stopped peer again with its data dir and wait until it answers. */
  async restart(id: number, timeoutMs = 30_000): Promise<void> {
    const p = this.peer(id);
    if (p.running) await p.kill();
    await p.start();
    await this.waitReady(p, timeoutMs);
  }

  /** SIGKILL, delete the data dir, start again with the same id and address. */
  async wipeAndRestart(id: number, timeoutMs = 30_000): Promise<void> {
    const p = this.peer(id);
    await p.kill();
    await p.wipe();
    await p.start();
    await this.waitReady(p, timeoutMs);
  }

  /** Replaces the fault settings of every outgoing link of `from` (see api.ts LinkFaults). */
  async setFaults(from: number, links: Readonly<Record<number, LinkFaults>>): Promise<void> {
    await putFaults(
      this.peer(from),
      links,
      this.peers.map((p) => p.id),
    );
  }

  /**
   * Cuts every link between `group` and the rest, in both directions (each side drops what it
   * sends across), so neither side hears the other.
   */
  async partition(group: readonly number[]): Promise<void> {
    const others = this.peers.filter((p) => !group.includes(p.id)).map((p) => p.id);
    const cut = (targets: number[]) =>
      Object.fromEntries(targets.map((t) => [t, { lossRate: 1 } satisfies LinkFaults]));
    await Promise.all([
      ...group.map((id) => this.setFaults(id, cut(others))),
      ...others.map((id) => this.setFaults(id, cut([...group]))),
    ]);
  }

  /** Clears every injected fault on every running peer. */
  async heal(): Promise<void> {
    const ids = this.peers.map((p) => p.id);
    await Promise.all(this.running().map((p) => putFaults(p, {}, ids)));
  }

  /** Applies `faults` to every link of every running peer (e.g. a cross-cloud delay). */
  async setAllLinks(faults: LinkFaults): Promise<void> {
    const ids = this.peers.map((p) => p.id);
    await Promise.all(
      this.running().map((p) =>
        putFaults(p, Object.fromEntries(ids.map((id) => [id, faults])), ids),
      ),
    );
  }

  private async killAll(): Promise<void> {
    await Promise.all(this.peers.map((p) => p.kill()));
  }

  /**
   * Kills every peer (SIGKILL: nothing to wait for), stops a private nats-server and removes the
   * temp dir, unless `keepLogs` (e.g. after a failed test) or env TESSERA_KEEP_LOGS=1, in which
   * case the dir with its logs/ stays and its path is returned.
   */
  async stop(options: { keepLogs?: boolean } = {}): Promise<string | undefined> {
    if (this.stopped) return undefined;
    this.stopped = true;
    this.grpc.close();
    await this.killAll();
    if (this.ownNats) await this.nats?.stop();
    const keep = options.keepLogs || process.env.TESSERA_KEEP_LOGS === "1";
    if (keep) return this.dir;
    await rm(this.dir, { recursive: true, force: true });
    return undefined;
  }
}

export function describe(v: InfoReply): string {
  return `role=${v.role} term=${v.term} leader=${v.leaderId} commit=${v.commitIndex} applied=${v.appliedIndex}`;
}
