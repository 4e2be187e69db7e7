/**
 * `pnpm bench storage [--reps N] [--dir PATH] [--quick]`
 *
 * Durable write and read throughput of @tessera/storage (checksums on) for the fs backend and
 * for S3 against s3rver, at 4 MiB and 64 MiB objects, beside `dd` moving the same bytes in the
 * same run (`dd bs=4M conv=fsync` per object for writes, `dd of=/dev/null` for reads), plus
 * CRC32C GB/s on one core. Medians over repetitions. Reads come from the page cache for both
 * (we cannot drop caches here), so they measure the read path, not the disk; except for
 * `fsDirectIo`, the fs store with O_DIRECT for large objects, whose reads come from the device. Also the cost of
 * one small fs object (a 64×64 exact tile, what noop-tasks moves): CPU and wall time per
 * durable put, per get and per head, where the fixed per-call costs dominate.
 * Prints one JSON object as the last stdout line.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { startS3rver } from "@tessera/harness";
import { FsObjectStore, type ObjectStore, S3ObjectStore } from "@tessera/storage";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const reps = Number(flag("--reps") ?? (quick ? 3 : 7));
const baseDir = flag("--dir") ?? tmpdir();
/** Objects per repetition: enough bytes per sample that one fsync hiccup does not dominate. */
const plan = [
  { sizeMiB: 4, count: quick ? 8 : 16 },
  { sizeMiB: 64, count: quick ? 1 : 2 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
const gbps = (bytes: number, seconds: number) => bytes / seconds / 1e9;
const round = (x: number) => Math.round(x * 1000) / 1000;

function payload(bytes: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(bytes);
  let x = seed || 1;
  for (let i = 0; i < bytes; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}

/** Runs dd and returns the seconds dd itself reports (excludes process start-up). */
function dd(argv: string[]): { seconds: number; wallSeconds: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync("dd", argv, { encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`dd ${argv.join(" ")} failed: ${r.stderr}`);
  const m = /copied, ([0-9.e+-]+) s/.exec(r.stderr);
  if (!m) throw new Error(`cannot parse dd output: ${r.stderr}`);
  return { seconds: Number(m[1]), wallSeconds: wall };
}

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function crcBench(): { gbps: number; samples: number[] } {
  const buf = payload(64 * MiB, 9);
  crc32c(buf); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < Math.max(5, reps); r++) {
    const t0 = process.hrtime.bigint();
    let acc = 0;
    for (let i = 0; i < 8; i++) acc ^= crc32c(buf, acc);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    samples.push(gbps(8 * buf.length, s));
  }
  return { gbps: median(samples), samples: samples.map(round) };
}

interface Sample {
  write: number;
  read: number;
}

/** A store's sample plus the process CPU (user + system, libuv threads included) per GiB moved. */
interface StoreSample extends Sample {
  writeCpuSecondsPerGiB: number;
  readCpuSecondsPerGiB: number;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/** One repetition through a store: put every object, get every object, delete them. */
async function storeRep(
  store: ObjectStore,
  label: string,
  data: Buffer[],
  rep: number,
): Promise<StoreSample> {
  const total = data.reduce((n, d) => n + d.length, 0);
  const keys = data.map((d, i) => `bench/${label}/${d.length}/r${rep}/o${i}`);
  const wCpu = process.cpuUsage();
  const w = await timeIt(async () => {
    for (const [i, key] of keys.entries()) await store.put(key, data[i] as Buffer);
  });
  const writeCpu = cpuSeconds(wCpu);
  const rCpu = process.cpuUsage();
  const r = await timeIt(async () => {
    for (const key of keys) await store.get(key);
  });
  const readCpu = cpuSeconds(rCpu);
  for (const key of keys) await store.delete(key);
  const gib = total / 2 ** 30;
  return {
    write: gbps(total, w),
    read: gbps(total, r),
    writeCpuSecondsPerGiB: writeCpu / gib,
    readCpuSecondsPerGiB: readCpu / gib,
  };
}

function storeSummary(samples: StoreSample[]) {
  return {
    writeGBps: summary(samples.map((x) => x.write)),
    readGBps: summary(samples.map((x) => x.read)),
    writeCpuSecondsPerGiB: summary(samples.map((x) => x.writeCpuSecondsPerGiB)),
    readCpuSecondsPerGiB: summary(samples.map((x) => x.readCpuSecondsPerGiB)),
  };
}

/** One repetition of dd over the same bytes: a durable copy per object, then a read of each. */
async function ddRep(
  dir: string,
  src: string,
  size: number,
  count: number,
): Promise<Sample & { writeWithSpawn: number }> {
  let ws = 0;
  let ww = 0;
  let rs = 0;
  for (let i = 0; i < count; i++) {
    const out = join(dir, `dd-out-${size}-${i}`);
    const w = dd([`if=${src}`, `of=${out}`, "bs=4M", "conv=fsync"]);
    ws += w.seconds;
    ww += w.wallSeconds;
    rs += dd([`if=${out}`, "of=/dev/null", "bs=4M"]).seconds;
    await rm(out);
  }
  const total = size * count;
  return { write: gbps(total, ws), writeWithSpawn: gbps(total, ww), read: gbps(total, rs) };
}

const summary = (xs: number[]) => ({ median: round(median(xs)), samples: xs.map(round) });

/**
 * dd, fs and s3rver run interleaved within each repetition, so a burst of load from other
 * processes hits all three alike; the fs/dd ratio is also taken per repetition.
 */
async function sizeBench(
  dir: string,
  fsStore: ObjectStore,
  fsDirectStore: ObjectStore,
  s3Store: ObjectStore,
  sizeMiB: number,
  count: number,
) {
  const size = sizeMiB * MiB;
  const src = join(dir, `dd-src-${sizeMiB}`);
  const data = Array.from({ length: count }, (_, i) => payload(size, i + 1 + sizeMiB));
  await writeFile(src, data[0] as Buffer);
  const ddS: (Sample & { writeWithSpawn: number })[] = [];
  const fsS: StoreSample[] = [];
  const fdS: StoreSample[] = [];
  const s3S: Sample[] = [];
  for (let r = -1; r < reps; r++) {
    // Rep -1 warms up (JIT, connections, directories) and is not counted.
    const d = await ddRep(dir, src, size, count);
    const f = await storeRep(fsStore, "fs", data, r + 1);
    const fd = await storeRep(fsDirectStore, "fs-direct", data, r + 1);
    const s = await storeRep(s3Store, "s3", data, r + 1);
    if (r >= 0) {
      ddS.push(d);
      fsS.push(f);
      fdS.push(fd);
      s3S.push(s);
    }
  }
  await rm(src);
  return {
    sizeMiB,
    objectsPerRep: count,
    dd: {
      writeGBps: summary(ddS.map((x) => x.write)),
      writeGBpsIncludingSpawn: summary(ddS.map((x) => x.writeWithSpawn)),
      readGBps: summary(ddS.map((x) => x.read)),
    },
    fs: storeSummary(fsS),
    fsDirectIo: storeSummary(fdS),
    s3rver: {
      writeGBps: summary(s3S.map((x) => x.write)),
      readGBps: summary(s3S.map((x) => x.read)),
    },
    fsWriteVsDd: summary(fsS.map((x, i) => x.write / (ddS[i]?.write ?? Number.NaN))),
  };
}

/** A 64×64 tile in exact mode (float32) plus its header: what each noop-tasks task writes. */
const SMALL_OBJECT_BYTES = 64 * 64 * 4 + 64;

async function perOp(count: number, op: (i: number) => Promise<unknown>) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await op(i);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
  const cpu = process.cpuUsage(cpu0);
  const us = (x: number) => Math.round((x / count) * 10) / 10;
  return {
    cpuUs: us(cpu.user + cpu.system),
    userUs: us(cpu.user),
    systemUs: us(cpu.system),
    wallUs: us(wallUs),
  };
}

/**
 * Small objects one after another through the fs store: process CPU (event loop and libuv
 * threads) and wall time per call. A warm-up round is not counted.
 */
async function smallObjectBench(store: ObjectStore) {
  const count = quick ? 500 : 2000;
  const data = payload(SMALL_OBJECT_BYTES, 5);
  for (let i = 0; i < 100; i++) await store.put(`bench/small-warm/o${i}`, data);
  const put = await perOp(count, (i) => store.put(`bench/small/o${i}`, data));
  const get = await perOp(count, (i) => store.get(`bench/small/o${i}`));
  const head = await perOp(count, (i) => store.head(`bench/small/o${i}`));
  return { bytes: SMALL_OBJECT_BYTES, count, put, get, head };
}

async function main() {
  const dir = await mkdtemp(join(baseDir, "tessera-bench-storage-"));
  const s3 = await startS3rver({ bucket: "tessera-bench" });
  const fsStore = new FsObjectStore({ root: join(dir, "fs") });
  const fsDirectStore = new FsObjectStore({ root: join(dir, "fs-direct"), directIo: true });
  const s3Store = new S3ObjectStore({
    bucket: s3.bucket,
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
    conditionalWrites: false,
  });
  try {
    const crc = crcBench();
    const smallObjects = await smallObjectBench(fsStore);
    console.error(`fs small objects (${smallObjects.bytes} B): ${JSON.stringify(smallObjects)}`);
    const results = [];
    for (const { sizeMiB, count } of plan) {
      const row = await sizeBench(dir, fsStore, fsDirectStore, s3Store, sizeMiB, count);
      console.error(
        `${sizeMiB} MiB: fs write ${row.fs.writeGBps.median} GB/s (direct I/O ${row.fsDirectIo.writeGBps.median}) vs dd ${row.dd.writeGBps.median} GB/s (median ratio ${row.fsWriteVsDd.median}), fs read ${row.fs.readGBps.median}, dd read ${row.dd.readGBps.median}, s3rver write ${row.s3rver.writeGBps.median} read ${row.s3rver.readGBps.median}`,
      );
      results.push(row);
    }
    console.error(`crc32c one core: ${round(crc.gbps)} GB/s`);
    const fsTargetMet = results.every((r) => r.fsWriteVsDd.median >= 0.9);
    console.log(
      JSON.stringify({
        benchmark: "storage",
        reps,
        dir,
        node: process.version,
        notes: [
          "GB/s = 1e9 bytes/s; medians over reps after one warm-up rep; dd, fs and s3rver interleaved per rep; fsWriteVsDd = median of per-rep ratios",
          "fs write = put(): crc32c + write temp + fsync file + link + fsync dir, per object",
          "fsDirectIo = the same store with directIo (what services open unless TESSERA_FS_DIRECT_IO=0): objects ≥ 1 MiB written and read with O_DIRECT, reads from the device; CPU = this process's user + system per GiB",
          "dd write = dd bs=4M conv=fsync per object, seconds as dd reports them (spawn excluded); writeGBpsIncludingSpawn includes it",
          "reads are from the page cache for both fs and dd (caches cannot be dropped here); fs read includes crc32c verification",
          "s3rver is a child process on the same 2-core machine and does not fsync; its numbers measure the S3 code path, not S3",
          "smallObjects: fs put/get/head of one small object at a time, process CPU (user + system, libuv threads included) and wall microseconds per call",
        ],
        crc32c: {
          gbpsOneCore: round(crc.gbps),
          samples: crc.samples,
          target: 5,
          met: crc.gbps >= 5,
        },
        smallObjects,
        results,
        targets: { fsWriteVsDd: 0.9, met: fsTargetMet },
      }),
    );
  } finally {
    await s3Store.close();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
