import fs, { promises as fsp } from "node:fs";
import type { Entry, HardState, Snapshot } from "@tessera/raft";
import { WalCorruptionError } from "../errors.js";
import { Replayer } from "./replay.js";
import { scanSegment } from "./scan.js";
import { listSegments } from "./segment.js";

export interface SegmentInfo {
  readonly seq: number;
  readonly path: string;
  /** Highest log index any record in the segment mentions; compaction deletes by it. */
  maxIndex: number;
}

export interface TornTail {
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

export interface RecoveredWal {
  readonly entries: Entry[];
  readonly hardState: HardState | undefined;
  /** Ascending; the last one is where appends continue. Empty for a fresh log. */
  readonly segments: SegmentInfo[];
  /** Size of the last segment after any torn tail was cut. */
  readonly lastSegmentSize: number;
  readonly tornTail?: TornTail;
}

/**
 * Reads every segment in order, replays it on top of the snapshot, and cuts a torn tail off the
 * last segment (ftruncate + fsync, so the next append does not land behind garbage).
 */
export async function recoverWal(walDir: string, snapshot: Snapshot): Promise<RecoveredWal> {
  const files = await listSegments(walDir);
  const replayer = new Replayer(snapshot);
  const segments: SegmentInfo[] = [];
  let lastSegmentSize = 0;
  let tornTail: TornTail | undefined;
  for (let i = 0; i < files.length; i++) {
    const { seq, path } = files[i]!;
    const prev = files[i - 1];
    if (prev !== undefined && seq !== prev.seq + 1) {
      throw new WalCorruptionError(
        path,
        0,
        `segment ${prev.seq + 1} is missing (found ${prev.seq}, then ${seq})`,
      );
    }
    const isLast = i === files.length - 1;
    const scanned = scanSegment(await fsp.readFile(path), path, seq, isLast);
    let maxIndex = 0;
    for (const r of scanned.records) maxIndex = Math.max(maxIndex, replayer.apply(r, path));
    segments.push({ seq, path, maxIndex });
    if (isLast) {
      lastSegmentSize = scanned.validEnd;
      if (scanned.tornTail !== undefined) {
        tornTail = { file: path, ...scanned.tornTail };
        const fd = fs.openSync(path, "r+");
        try {
          fs.ftruncateSync(fd, scanned.validEnd);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
    }
  }
  const { entries, hardState } = replayer.finish(walDir);
  return { entries, hardState, segments, lastSegmentSize, ...(tornTail ? { tornTail } : {}) };
}
