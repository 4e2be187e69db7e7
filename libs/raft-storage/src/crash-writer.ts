/**
 * Child process of the crash test (run built, with plain node): appends entries to a DurableLog
 * forever and prints `ack <from> <to> <term>` after each write is fsynced. The test SIGKILLs it
 * at random moments and checks that every acknowledged entry survived.
 *
 * It behaves like a Raft follower under churn: pipelined appends (up to 4 writes in flight, so
 * fsyncs are shared), occasional truncation of the uncommitted suffix by a new term, and
 * periodic snapshots + compaction, with small segments so rolls and deletions happen often.
 *
 * usage: node dist/crash-writer.js <dir> <seed>
 */
import { type Entry, EntryType } from "@tessera/raft";
import { entryContent, snapshotContent } from "./crash-content.js";
import { DurableLog } from "./durable-log.js";

const [dir, seedArg] = process.argv.slice(2);
if (dir === undefined) {
  process.stderr.write("usage: crash-writer <dir> <seed>\n");
  process.exit(2);
}
let seed = Number.parseInt(seedArg ?? "1", 10) >>> 0 || 1;
function rand(n: number): number {
  // xorshift32: deterministic per seed, good enough to vary batch shapes.
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed % n;
}

const log = await DurableLog.open(dir, { segmentBytes: 16 * 1024 });
let hs = log.hardState();
let term = Math.max(hs.term, log.term(log.lastIndex()), 1);
let commit = hs.commit;
let inFlight = 0;
process.stdout.write(`ready ${log.firstIndex()} ${log.lastIndex()}\n`);

function makeEntries(from: number, count: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i < from + count; i++) {
    out.push({ index: i, term, type: EntryType.Normal, data: entryContent(i, term) });
  }
  return out;
}

async function step(): Promise<void> {
  const last = log.lastIndex();
  let from = last + 1;
  if (rand(20) === 0 && last > commit) {
    // A new leader overwrites part of the uncommitted suffix.
    term++;
    from = Math.max(commit + 1, last - rand(8));
  }
  const entries = makeEntries(from, 1 + rand(16));
  const to = from + entries.length - 1;
  commit = Math.max(commit, Math.min(from - 1, to - 20));
  hs = { term, vote: 1, commit };
  const acked = term;
  await log.write({ entries, hardState: hs }, { sync: true });
  process.stdout.write(`ack ${from} ${to} ${acked}\n`);
  const snapIndex = log.snapshot().metadata.index;
  if (commit - snapIndex > 150 && rand(4) === 0) {
    const snap = await log.createSnapshot(
      commit,
      { voters: [1, 2, 3], learners: [], votersOutgoing: [] },
      snapshotContent(commit),
    );
    await log.compact(snap.metadata.index);
  }
}

function pump(): void {
  while (inFlight < 4) {
    inFlight++;
    step().then(
      () => {
        inFlight--;
        pump();
      },
      (e: unknown) => {
        process.stderr.write(`crash-writer failed: ${e instanceof Error ? e.stack : String(e)}\n`);
        process.exit(1);
      },
    );
  }
}
pump();
