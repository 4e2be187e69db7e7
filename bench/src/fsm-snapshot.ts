/**
 * `pnpm bench fsm-snapshot [--k 100] [--complete 50000] [--live 2000] [--reps 5]`
 *
 * Snapshot cost of the manifest FSM holding one job of K³ + K² tasks (K = 100: 1,010,000 tasks),
 * after `--complete` maps went through attempt-start + attempt-complete and `--live` attempts are
 * in flight, all applied as real command entries. Measures snapshot(), restore() into a fresh FSM
 * and digest() (median of --reps), the snapshot size, and resident memory (RSS now and the
 * process's peak). Target (issue 4): snapshot < 2 s and < 200 MB resident for 1,000,000 tasks.
 * Prints one JSON object as the last stdout line.
 */
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { CommittedCommand } from "@tessera/consensus";
import { ManifestFsm } from "@tessera/consensus/fsm";
import { formatCrc32c, partialKey } from "@tessera/matrix";

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${name}: must be an integer >= 0`);
  return v;
};
const K = flag("--k", 100);
const complete = flag("--complete", 50_000);
const liveCount = flag("--live", 2_000);
const reps = Math.max(1, flag("--reps", 5));

const MiB = 1024 * 1024;
const encoder = new TextEncoder();
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
const rssMiB = () => round(process.memoryUsage().rss / MiB);
// A full GC between phases, so RSS shows what is held rather than the build phase's garbage.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const fsm = new ManifestFsm({ limits: { maxTasksPerJob: 1 << 24 } });
let index = 0;
let seq = 0;
function apply(cmd: Record<string, unknown>): void {
  const data = encoder.encode(JSON.stringify({ v: 1, clientId: "bench", seq: ++seq, cmd }));
  const entry: CommittedCommand = {
    index: ++index,
    term: 1,
    stampedAt: 1_700_000_000_000 + index,
    data,
  };
  const out = fsm.apply(entry);
  const reply = JSON.parse(new TextDecoder().decode(out.reply)) as { ok: boolean };
  if (!reply.ok)
    throw new Error(`command ${index} refused: ${new TextDecoder().decode(out.reply)}`);
}

const rssStart = rssMiB();
const tBuild = performance.now();
const spec = { n: K * 16, tile: 16, mode: "exact", seed: 1 };
apply({ type: "submit-job", jobId: "big", spec });
apply({
  type: "node-upsert",
  nodeId: "n1",
  labels: { cloud: "local", region: "r1", zone: "z1", pool: "cpu" },
  capacity: { slots: 64, cpus: 64, memoryBytes: 2 ** 36, gpus: 0 },
  executionProvider: "cpu",
  at: 1_700_000_000_000,
});
const maps = K * K * K;
const done = Math.min(complete, maps);
for (let m = 0; m < done + liveCount && m < maps; m++) {
  const k = m % K;
  const j = Math.floor(m / K) % K;
  const i = Math.floor(m / (K * K));
  const taskId = `m-${i}-${j}-${k}`;
  apply({ type: "attempt-start", jobId: "big", taskId, attempt: 1, nodeId: "n1" });
  if (m < done) {
    apply({
      type: "attempt-complete",
      jobId: "big",
      taskId,
      attempt: 1,
      nodeId: "n1",
      output: {
        uri: `file:///data/${partialKey("big", i, j, k)}`,
        checksum: formatCrc32c((m * 2654435761) >>> 0),
        bytes: 1024 + 40,
      },
    });
  }
}
const buildMs = performance.now() - tBuild;
gc();
const rssBuilt = rssMiB();

// First snapshot + restore, measured for resident memory: the FSM, its snapshot and a restored
// replica all alive at once (what a leader sending InstallSnapshot to itself would hold).
const expected = fsm.digest();
let t0 = performance.now();
let snapshot: Uint8Array = fsm.snapshot();
const firstSnapshotMs = performance.now() - t0;
const rssWithSnapshot = rssMiB();
let copy = new ManifestFsm({ limits: { maxTasksPerJob: 1 << 24 } });
t0 = performance.now();
copy.restore(snapshot);
const firstRestoreMs = performance.now() - t0;
const rssWithReplica = rssMiB();
t0 = performance.now();
let digestsEqual = copy.digest() === expected;

const snapMs: number[] = [firstSnapshotMs];
const restoreMs: number[] = [firstRestoreMs];
const digestMs: number[] = [performance.now() - t0];
for (let r = 1; r < reps; r++) {
  gc();
  let t = performance.now();
  snapshot = fsm.snapshot();
  snapMs.push(performance.now() - t);
  copy = new ManifestFsm({ limits: { maxTasksPerJob: 1 << 24 } });
  t = performance.now();
  copy.restore(snapshot);
  restoreMs.push(performance.now() - t);
  t = performance.now();
  const d = copy.digest();
  digestMs.push(performance.now() - t);
  digestsEqual &&= d === expected;
}
const stats = fsm.stats();

console.log(
  JSON.stringify({
    bench: "fsm-snapshot",
    node: process.version,
    tasks: stats.tasks,
    K,
    completedTasks: done,
    liveAttempts: stats.liveAttempts,
    appliedEntries: index,
    buildSeconds: round(buildMs / 1000, 2),
    taskColumnsMiB: round(stats.taskBytes / MiB),
    snapshotMiB: round(snapshot.byteLength / MiB),
    snapshotMs: {
      first: round(firstSnapshotMs),
      median: round(median(snapMs)),
      max: round(Math.max(...snapMs)),
    },
    restoreMs: {
      first: round(firstRestoreMs),
      median: round(median(restoreMs)),
      max: round(Math.max(...restoreMs)),
    },
    digestMs: { median: round(median(digestMs)), max: round(Math.max(...digestMs)) },
    digestsEqual,
    rssMiB: {
      start: rssStart,
      fsmBuilt: rssBuilt,
      withSnapshot: rssWithSnapshot,
      withRestoredReplica: rssWithReplica,
    },
    /** Includes the build phase (100k JSON commands' garbage before the GC). */
    peakRssMiBProcess: round(process.resourceUsage().maxRSS / 1024),
    target: { snapshotMs: 2000, residentMiB: 200 },
  }),
);
if (!digestsEqual) process.exit(1);
