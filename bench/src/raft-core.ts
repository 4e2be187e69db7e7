// `pnpm bench raft-core [--duration-ms N] [--warmup-ms N] [--proposers 1,64] [--sizes 128,4096]`
//
// Three in-process RawNodes (@tessera/raft) over an in-memory transport, each persisting to its
// own DurableLog (@tessera/raft-storage) in a temp dir with real fsync. For every combination of
// concurrent proposers and entry size it measures committed entries/s and commit latency
// (propose on the leader -> applied on the leader), p50/p99. Each combination gets a fresh
// cluster. Also reports the raw fdatasync latency of the temp dir's disk, for scale.
// Last stdout line: one JSON object.
import fs, { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Message, ProposalDroppedError, RawNode, type Ready, StateType } from "@tessera/raft";
import { DurableLog } from "@tessera/raft-storage";
import { FlagError, intsIn } from "./_cli.js";

interface Flags {
  durationMs: number;
  warmupMs: number;
  proposers: number[];
  sizes: number[];
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { durationMs: 3000, warmupMs: 500, proposers: [1, 64], sizes: [128, 4096] };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]?.replace(/^--/, "") ?? "";
    const value = argv[i + 1];
    if (value === undefined) throw new FlagError(`--${name}: missing value`);
    switch (name) {
      case "duration-ms":
        flags.durationMs = intsIn(name, value, 100, 600_000)[0]!;
        break;
      case "warmup-ms":
        flags.warmupMs = intsIn(name, value, 0, 60_000)[0]!;
        break;
      case "proposers":
        flags.proposers = intsIn(name, value, 1, 4096);
        break;
      case "sizes":
        flags.sizes = intsIn(name, value, 8, 1024 * 1024);
        break;
      default:
        throw new FlagError(`unknown flag --${name}`);
    }
  }
  return flags;
}

const CONF = { voters: [1, 2, 3], learners: [], votersOutgoing: [] };
const TICK_MS = 10;
/** Compact each log once this many entries past its snapshot are applied (bounds memory). */
const COMPACT_EVERY = 20_000;
/** Entries kept behind the compaction point, so a briefly slow follower needs no snapshot. */
const COMPACT_KEEP = 5_000;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One member: a RawNode, its durable log, and the host loop that drives them. */
class Host {
  readonly raw: RawNode;
  private running = false;
  private applied = 0;
  private snapshotIndex = 0;
  /** Leader side: proposal id -> resolver, completed when the entry is applied here. */
  readonly waiting = new Map<number, () => void>();
  stopped = false;
  failure: unknown;

  constructor(
    readonly id: number,
    readonly log: DurableLog,
    private readonly send: (m: Message) => void,
  ) {
    this.raw = new RawNode(
      { id, random: mulberry32(id * 7919), electionTick: 10, heartbeatTick: 1 },
      log,
    );
  }

  /** Runs the Ready loop until nothing is left; calls made while it runs are folded in. */
  kick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.drain().then(
      () => {
        this.running = false;
        if (this.raw.hasReady()) this.kick();
      },
      (e: unknown) => {
        this.failure = e;
        this.stopped = true;
      },
    );
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.raw.hasReady()) {
      const rd: Ready = this.raw.ready();
      // 1. Persist (one group-committed fsync covers every entry of this Ready).
      if (rd.snapshot || rd.entries.length > 0 || rd.hardState) {
        await this.log.write(
          { snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState },
          { sync: rd.mustSync },
        );
      }
      // 2. Send only after the state the messages reflect is durable.
      for (const m of rd.messages) this.send(m);
      // 3. Apply.
      for (const e of rd.committedEntries) {
        this.applied = e.index;
        if (e.data.length >= 8) {
          const id = new DataView(e.data.buffer, e.data.byteOffset, 8).getFloat64(0, true);
          const done = this.waiting.get(id);
          if (done) {
            this.waiting.delete(id);
            done();
          }
        }
      }
      if (rd.snapshot) this.applied = Math.max(this.applied, rd.snapshot.metadata.index);
      this.raw.advance(rd);
      await this.maybeCompact();
    }
  }

  private async maybeCompact(): Promise<void> {
    const target = this.applied - COMPACT_KEEP;
    if (target - this.snapshotIndex < COMPACT_EVERY) return;
    await this.log.createSnapshot(target, CONF, new Uint8Array(8));
    await this.log.compact(target);
    this.snapshotIndex = target;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface CaseResult {
  proposers: number;
  entryBytes: number;
  committed: number;
  seconds: number;
  entriesPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  dropped: number;
  leaderFsyncs: number;
  entriesPerFsync: number;
}

async function runCase(proposers: number, size: number, flags: Flags): Promise<CaseResult> {
  const root = mkdtempSync(join(tmpdir(), "tessera-bench-raft-"));
  const hosts: Host[] = [];
  const byId = new Map<number, Host>();
  // Memory transport: deliver on a later macrotask, as a network would, batching per tick.
  const send = (m: Message) => {
    setImmediate(() => {
      const h = byId.get(m.to);
      if (!h || h.stopped) return;
      h.raw.step(m);
      h.kick();
    });
  };
  for (const id of [1, 2, 3]) {
    const log = await DurableLog.open(join(root, `n${id}`), { bootstrap: CONF });
    const h = new Host(id, log, send);
    hosts.push(h);
    byId.set(id, h);
  }
  const ticker = setInterval(() => {
    for (const h of hosts) {
      h.raw.tick();
      h.kick();
    }
  }, TICK_MS);
  try {
    const leader = hosts[0]!;
    leader.raw.campaign();
    leader.kick();
    const deadline = Date.now() + 5000;
    while (leader.raw.status().state !== StateType.Leader) {
      if (Date.now() > deadline) throw new Error("no leader elected within 5 s");
      await sleep(5);
    }

    let nextId = 1;
    let measuring = false;
    let stop = false;
    let dropped = 0;
    const latencies: number[] = [];
    const proposeOne = async () => {
      const id = nextId++;
      const data = new Uint8Array(size);
      new DataView(data.buffer).setFloat64(0, id, true);
      const start = performance.now();
      const applied = new Promise<void>((r) => leader.waiting.set(id, r));
      try {
        leader.raw.propose(data);
      } catch (e) {
        leader.waiting.delete(id);
        if (!(e instanceof ProposalDroppedError)) throw e;
        dropped++;
        await sleep(1);
        return;
      }
      leader.kick();
      await applied;
      if (measuring) latencies.push(performance.now() - start);
    };
    const proposer = async () => {
      while (!stop) {
        await proposeOne();
        if (leader.failure) throw leader.failure;
      }
    };
    const workers = Array.from({ length: proposers }, proposer);
    await sleep(flags.warmupMs);
    const fsyncsBefore = leader.log.stats().fsyncs;
    measuring = true;
    const t0 = performance.now();
    await sleep(flags.durationMs);
    measuring = false;
    const seconds = (performance.now() - t0) / 1000;
    const committed = latencies.length;
    const leaderFsyncs = leader.log.stats().fsyncs - fsyncsBefore;
    stop = true;
    // Release proposers still waiting so the workers finish.
    for (const done of leader.waiting.values()) done();
    await Promise.all(workers);
    for (const h of hosts) if (h.failure) throw h.failure;
    latencies.sort((a, b) => a - b);
    return {
      proposers,
      entryBytes: size,
      committed,
      seconds: round3(seconds),
      entriesPerSec: Math.round(committed / seconds),
      mbPerSec: round3((committed * size) / seconds / 1e6),
      p50Ms: round3(percentile(latencies, 50)),
      p99Ms: round3(percentile(latencies, 99)),
      maxMs: round3(latencies[latencies.length - 1] ?? Number.NaN),
      dropped,
      leaderFsyncs,
      entriesPerFsync: round3(committed / Math.max(1, leaderFsyncs)),
    };
  } finally {
    clearInterval(ticker);
    for (const h of hosts) h.stopped = true;
    await sleep(20);
    for (const h of hosts) await h.log.close().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  }
}

/** Raw disk latency for scale: 4 KiB append + fdatasync, as the WAL does per group commit. */
function measureFsync(samples: number): { p50Ms: number; p99Ms: number } {
  const dir = mkdtempSync(join(tmpdir(), "tessera-bench-fsync-"));
  const fd = fs.openSync(join(dir, "f"), "w");
  const buf = Buffer.alloc(4096, 1);
  const t: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const s = performance.now();
      fs.writeSync(fd, buf, 0, buf.length, i * buf.length);
      fs.fdatasyncSync(fd);
      t.push(performance.now() - s);
    }
  } finally {
    fs.closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  t.sort((a, b) => a - b);
  return { p50Ms: round3(percentile(t, 50)), p99Ms: round3(percentile(t, 99)) };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const fsync = measureFsync(300);
  console.error(`fdatasync (4 KiB append): p50 ${fsync.p50Ms} ms, p99 ${fsync.p99Ms} ms`);
  const cases: CaseResult[] = [];
  for (const size of flags.sizes) {
    for (const p of flags.proposers) {
      const r = await runCase(p, size, flags);
      console.error(
        `proposers=${p} entry=${size}B: ${r.entriesPerSec} entries/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
          `${r.entriesPerFsync} entries per leader fsync`,
      );
      cases.push(r);
    }
  }
  const target = cases.find((c) => c.proposers === 64 && c.entryBytes === 128);
  console.log(
    JSON.stringify({
      bench: "raft-core",
      nodes: 3,
      durationMs: flags.durationMs,
      fsync,
      cases,
      targets: target
        ? {
            entriesPerSec: {
              want: 20000,
              got: target.entriesPerSec,
              met: target.entriesPerSec >= 20000,
            },
            p99Ms: { want: 10, got: target.p99Ms, met: target.p99Ms <= 10 },
          }
        : null,
    }),
  );
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
