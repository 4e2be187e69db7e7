import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { entryContent, snapshotContent } from "./crash-content.js";
import { DurableLog } from "./durable-log.js";
import { tempDir } from "./testing.test-helpers.js";
import { encodedEntriesSize, encodeEntriesInto } from "./wal/payloads.js";

/**
 * The durability contract under real crashes: a child process (dist/crash-writer.js, plain
 * node) appends, truncates, snapshots and compacts, printing each write acknowledged after
 * fsync; we SIGKILL it at random moments, reopen the same directory, and check that no
 * acknowledged entry is missing and no returned entry is corrupt. Then the next child continues.
 *
 * A SIGKILL rarely tears a write (Linux stops a multi-page write between pages when a fatal
 * signal is pending, leaving a cut record), so on some rounds the test also appends what a
 * machine crash can leave behind (zeros, a cut record, a record with a bad checksum) to the last
 * segment, and checks recovery cuts all of it up to the file's end. It may cut more: a record
 * the kill itself tore; the acknowledged-entry check below proves nothing acknowledged went.
 */
const WRITER = fileURLToPath(new URL("../dist/crash-writer.js", import.meta.url));
const KILLS = 60;

interface Run {
  acks: { from: number; to: number; term: number }[];
  exit: Promise<void>;
}

function startWriter(
  dir: string,
  seed: number,
): { child: ChildProcess; run: Run; ready: Promise<void> } {
  const child = spawn(process.execPath, [WRITER, dir, String(seed)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const run: Run = { acks: [], exit: new Promise((r) => child.once("exit", () => r())) };
  let buf = "";
  let stderr = "";
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const [kind, a, b, c] = buf.slice(0, nl).split(" ");
      buf = buf.slice(nl + 1);
      if (kind === "ready") onReady();
      if (kind === "ack") run.acks.push({ from: Number(a), to: Number(b), term: Number(c) });
      nl = buf.indexOf("\n");
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  child.once("exit", (code, signal) => {
    if (signal !== "SIGKILL")
      throw new Error(`crash writer exited on its own (${code}): ${stderr}`);
  });
  return { child, run, ready };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bytes a torn write could leave after the last whole record; none of them decode. */
function tornGarbage(kind: number, size: number, index: number): Buffer {
  if (kind === 0) return Buffer.alloc(1 + size);
  const e = { index, term: 1, type: 0, data: entryContent(index, 1) };
  const rec = Buffer.alloc(encodedEntriesSize([e]));
  encodeEntriesInto(rec, 0, [e]);
  if (kind === 1) return rec.subarray(0, 1 + (size % (rec.length - 1)));
  rec[rec.length - 1]! ^= 0x5a;
  return rec;
}

describe("crash safety (SIGKILL at random moments)", () => {
  it(`loses no fsync-acknowledged entry over ${KILLS} kills`, async () => {
    if (!existsSync(WRITER)) throw new Error(`build first: ${WRITER} is missing (pnpm build)`);
    const dir = tempDir();
    /** index -> term of the latest acknowledged write covering it. */
    const acked = new Map<number, number>();
    let totalAcks = 0;
    let tornTails = 0;
    let injected = 0;
    let rng = 12345;
    const rand = (n: number) => {
      rng = (rng * 1103515245 + 12345) % 2 ** 31;
      return rng % n;
    };
    for (let round = 0; round < KILLS; round++) {
      const { child, run, ready } = startWriter(dir, round + 1);
      // Mostly kill mid-stream; sometimes during open/recovery itself.
      if (rand(5) === 0) await sleep(rand(120));
      else {
        await ready;
        await sleep(5 + rand(150));
      }
      child.kill("SIGKILL");
      await run.exit;
      for (const a of run.acks) {
        for (const i of [...acked.keys()]) if (i >= a.from) acked.delete(i);
        for (let i = a.from; i <= a.to; i++) acked.set(i, a.term);
      }
      totalAcks += run.acks.length;

      let garbage: { bytes: number; endsAt: number } | undefined;
      if (round % 3 === 2) {
        const segs = readdirSync(`${dir}/wal`)
          .filter((f) => f.endsWith(".wal"))
          .sort();
        const bytes = tornGarbage(rand(3), rand(8192), 1_000_000 + round);
        const path = `${dir}/wal/${segs[segs.length - 1]}`;
        appendFileSync(path, bytes);
        garbage = { bytes: bytes.length, endsAt: statSync(path).size };
        injected++;
      }
      const log = await DurableLog.open(dir, { segmentBytes: 16 * 1024 });
      try {
        if (log.recovery.tornTail) tornTails++;
        if (garbage) {
          const torn = log.recovery.tornTail;
          expect(torn?.bytes, `round ${round}: cut`).toBeGreaterThanOrEqual(garbage.bytes);
          expect((torn?.offset ?? 0) + (torn?.bytes ?? 0), `round ${round}: cut end`).toBe(
            garbage.endsAt,
          );
        }
        const first = log.firstIndex();
        const last = log.lastIndex();
        const snap = log.snapshot();
        if (snap.metadata.index > 0)
          expect(snap.data).toEqual(snapshotContent(snap.metadata.index));
        // Every entry returned is exactly what was written for its (index, term).
        const entries = last >= first ? log.entries(first, last + 1) : [];
        expect(entries.length).toBe(last - first + 1);
        for (const e of entries) {
          expect(e.data, `entry ${e.index}`).toEqual(entryContent(e.index, e.term));
        }
        expect(log.hardState().commit).toBeLessThanOrEqual(last);
        // Every acknowledged entry is present with its term, unless a later write with a higher
        // term (written but killed before its ack) legitimately replaced it.
        for (const [i, t] of acked) {
          if (i <= snap.metadata.index) continue;
          const at = Math.min(i, last);
          const present = i <= last && log.term(i) === t;
          const superseded = log.term(at) > t;
          expect(
            present || superseded,
            `acked entry ${i}@${t} (last ${last}, term ${log.term(at)})`,
          ).toBe(true);
        }
        for (const i of [...acked.keys()]) if (i <= snap.metadata.index) acked.delete(i);
      } finally {
        await log.close();
      }
    }
    expect(totalAcks).toBeGreaterThan(KILLS * 5);
    expect(tornTails).toBeGreaterThanOrEqual(injected);
    // Report the mix the run exercised (kills land mid-write only some of the time).
    console.log(
      `crash test: ${KILLS} kills, ${totalAcks} acknowledged writes, ${tornTails} torn tails cut (${injected} injected)`,
    );
  }, 120_000);
});
