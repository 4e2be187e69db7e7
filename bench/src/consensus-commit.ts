// `pnpm bench consensus-commit [--clients 1,64] [--rpc stream,unary] [--duration-ms N]
//                              [--warmup-ms N] [--peers 3] [--tls off|on|off,on]`
//
// Three consensus peers as real processes (services/consensus/dist/main.js) on loopback, each
// with its own data dir and fsync on (the service default). C concurrent gRPC clients, each one
// session proposing noop commands back to back, committed AND applied on the leader before the
// reply. --rpc: "stream" sends over Manifest.ProposeStream (one stream shared by the clients of
// this process, as ManifestClient does), "unary" makes one Manifest.Propose call per command;
// both run side by side by default. For every (rpc, C): committed commands/s and client-side
// latency p50/p99 over the measurement window (after a warm-up), and per peer the group-commit
// factors from its /metrics (fsyncs per command, entries per Ready). Every case gets a fresh cluster.
// --tls on: the peers' gRPC port under mutual TLS (--cluster-tls-*, a throwaway CA made with
// openssl), the clients presenting a certificate of it; `off,on` runs every case both ways, one
// after the other, so the cost of TLS on Raft and proposals is read side by side.
// Last stdout line: one JSON object, with etcd 3.4 figures on the same kind of machine for scale.
import { loadClusterTls } from "@tessera/consensus/client";
import { makeTestPki, type TestPki } from "@tessera/harness";
import { ConsensusCluster, ManifestClients } from "@tessera/test-consensus";
import { runBench } from "./_cli.js";
import {
  FlagError,
  intFlag,
  intListFlag,
  machine,
  type ProposeRpc,
  parseFlagPairs,
  percentile,
  round2,
  SequentialProposer,
  sleep,
} from "./_consensus.js";

const ETCD = {
  version: "3.4",
  note: "etcd 3.4 on this machine class, as quoted in issue 4",
  sequential: { commandsPerSec: [560, 610], p50Ms: [1.4, 1.6], p99Ms: 5.3 },
  clients64: { commandsPerSec: [3600, 4100], p99Ms: [36, 39] },
};
const TARGET = {
  clients64CommandsPerSec: ">= 2x etcd (>= 7200-8200)",
  sequentialP50Ms: "<= etcd (1.4-1.6)",
};

interface CaseResult {
  rpc: ProposeRpc;
  tls: boolean;
  clients: number;
  commands: number;
  commandsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  retries: number;
  /** Per peer (leader first) over the measurement window: the group-commit factors. */
  peers: PeerBatching[];
}

interface PeerBatching {
  id: number;
  leader: boolean;
  /** Log fsyncs per committed command (below 1: one fsync covered several commands). */
  fsyncsPerCommand: number;
  /** Mean entries appended per Raft Ready that appended any. */
  entriesPerReady: number;
}

interface RaftCounters {
  fsyncs: number;
  readies: number;
  entries: number;
}

/** The batching counters of one peer's /metrics (tessera_raft_log_fsyncs_total, _ready_entries). */
async function raftCounters(httpUrl: string): Promise<RaftCounters> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  const value = (name: string) => {
    // `name{labels} value` (the registry adds service and node labels) or `name value`.
    const line = text.split("\n").find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
  };
  return {
    fsyncs: value("tessera_raft_log_fsyncs_total"),
    readies: value("tessera_raft_ready_entries_count"),
    entries: value("tessera_raft_ready_entries_sum"),
  };
}

async function runCase(
  rpc: ProposeRpc,
  clients: number,
  peers: number,
  durationMs: number,
  warmupMs: number,
  pki: TestPki | undefined,
): Promise<CaseResult> {
  const tlsArgs = pki
    ? [
        "--cluster-tls-ca",
        pki.caFile,
        "--cluster-tls-cert",
        pki.serverCertFile,
        "--cluster-tls-key",
        pki.serverKeyFile,
      ]
    : [];
  const clusterTls = pki
    ? loadClusterTls({
        caFile: pki.caFile,
        certFile: pki.clientCertFile,
        keyFile: pki.clientKeyFile,
      })
    : undefined;
  const cluster = await ConsensusCluster.start({
    size: peers,
    name: `bench-commit-${clients}`,
    nats: false,
    extraArgs: ["--log-level", "warn", ...tlsArgs],
    clusterTls,
  });
  const grpc = new ManifestClients(clusterTls);
  try {
    const leader = await cluster.waitForLeader();
    // Start at the leader so the first request is not a redirect.
    const order = [leader.peer, ...cluster.peers.filter((p) => p !== leader.peer)];
    const addresses = () => order.map((p) => p.grpcAddress);
    const proposers = Array.from(
      { length: clients },
      (_, i) =>
        new SequentialProposer(grpc, addresses, `bench-${rpc}-${clients}-${i}`, undefined, 2, rpc),
    );
    await sleep(warmupMs);
    const before = await Promise.all(order.map((p) => raftCounters(p.httpUrl)));
    const from = performance.now();
    await sleep(durationMs);
    const to = performance.now();
    const after = await Promise.all(order.map((p) => raftCounters(p.httpUrl)));
    await Promise.all(proposers.map((p) => p.stop()));
    const window = proposers.flatMap((p) => p.commits.filter((c) => c.at >= from && c.at < to));
    const latencies = window.map((c) => c.latencyMs).sort((a, b) => a - b);
    const seconds = (to - from) / 1000;
    return {
      rpc,
      tls: pki !== undefined,
      clients,
      commands: window.length,
      commandsPerSec: Math.round(window.length / seconds),
      p50Ms: round2(percentile(latencies, 50)),
      p99Ms: round2(percentile(latencies, 99)),
      meanMs: round2(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
      maxMs: round2(latencies[latencies.length - 1] ?? Number.NaN),
      retries: proposers.reduce((a, p) => a + p.errors, 0),
      peers: order.map((p, i) => {
        const d = (k: keyof RaftCounters) => after[i]![k] - before[i]![k];
        return {
          id: p.id,
          leader: i === 0,
          fsyncsPerCommand: round2(d("fsyncs") / Math.max(1, window.length)),
          entriesPerReady: round2(d("entries") / Math.max(1, d("readies"))),
        };
      }),
    };
  } finally {
    grpc.close();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  const flags = parseFlagPairs(process.argv.slice(2), [
    "clients",
    "duration-ms",
    "warmup-ms",
    "peers",
    "rpc",
    "tls",
  ]);
  const clientCounts = intListFlag(flags, "clients", [1, 64], 1, 1024);
  const durationMs = intFlag(flags, "duration-ms", 5_000, 200, 600_000);
  const warmupMs = intFlag(flags, "warmup-ms", 1_000, 0, 60_000);
  const peers = intFlag(flags, "peers", 3, 1, 7);
  const rpcs = (flags.get("rpc") ?? "stream,unary").split(",");
  for (const r of rpcs) {
    if (r !== "stream" && r !== "unary") {
      throw new FlagError(`--rpc: "${r}" must be stream or unary`);
    }
  }
  const tlsModes = (flags.get("tls") ?? "off").split(",");
  for (const t of tlsModes) {
    if (t !== "off" && t !== "on") throw new FlagError(`--tls: "${t}" must be off or on`);
  }
  const pki = tlsModes.includes("on") ? await makeTestPki() : undefined;
  const results: CaseResult[] = [];
  try {
    for (const c of clientCounts) {
      for (const rpc of rpcs as ProposeRpc[]) {
        for (const t of tlsModes) {
          const r = await runCase(
            rpc,
            c,
            peers,
            durationMs,
            warmupMs,
            t === "on" ? pki : undefined,
          );
          console.error(
            `consensus-commit: ${rpc}, ${c} client(s), tls ${t}: ${r.commandsPerSec}/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`,
          );
          results.push(r);
        }
      }
    }
  } finally {
    await pki?.remove();
  }
  console.log(
    JSON.stringify({
      bench: "consensus-commit",
      peers,
      transport: "grpc, loopback",
      fsync: true,
      command: "noop (CommandEnvelopeV1, one session per client)",
      durationMs,
      warmupMs,
      results,
      etcd: ETCD,
      target: TARGET,
      machine: machine(),
    }),
  );
}

runBench("consensus-commit", main);
