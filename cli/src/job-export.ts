// `tessera job export JOB --out FILE`: a succeeded job's result C as one file (NumPy .npy, or
// raw row-major float32), assembled from its output tiles in storage. Every tile is verified on
// the way (the store's CRC32C, then the tile format's own payload checksum), and the digest of
// the tiles written must equal the digest the manifest recorded for the job, or nothing is left
// at --out: what a user takes away is exactly the result the cluster verified.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import {
  crc32cHex,
  decodeTile,
  HOST_IS_LITTLE_ENDIAN,
  jobOutputDigest,
  type MatmulJobSpec,
  outputKey,
} from "@tessera/matrix";
import {
  createObjectStore,
  ObjectNotFoundError,
  type ObjectStore,
  storageConfigFromSpec,
} from "@tessera/storage";
import type { ExportFormat } from "./args.js";
import { CliError } from "./client.js";
import type { JobStorage } from "./job-storage.js";

export { EXPORT_FORMATS, type ExportFormat } from "./args.js";

/** Tiles read ahead of the one being written (overlaps S3/GCS round trips with writes). */
const READ_AHEAD = 4;
const FLOAT32_BYTES = 4;
const NPY_ALIGN = 64;

/**
 * The NumPy format 1.0 header of a C-order little-endian float32 rows×cols array, byte for byte
 * what `numpy.save` writes: magic, version, header length, the dict, space padding and a newline
 * so that the data starts at a multiple of 64 bytes.
 */
export function npyHeader(rows: number, cols: number): Uint8Array {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  const preamble = 10; // \x93NUMPY, major, minor, uint16 header length
  const total = Math.ceil((preamble + dict.length + 1) / NPY_ALIGN) * NPY_ALIGN;
  const out = new Uint8Array(total);
  out.set([0x93, ...Buffer.from("NUMPY", "latin1"), 1, 0]);
  new DataView(out.buffer).setUint16(8, total - preamble, true);
  out.set(Buffer.from(dict.padEnd(total - preamble - 1, " "), "latin1"), preamble);
  out[total - 1] = 0x0a;
  return out;
}

export interface ExportOptions {
  readonly out: string;
  readonly format: ExportFormat;
  /** Replace an existing file at `out` (otherwise that is an error and nothing is read). */
  readonly force: boolean;
}

export interface ExportReport {
  readonly jobId: string;
  readonly out: string;
  readonly format: ExportFormat;
  readonly shape: readonly [number, number];
  readonly dtype: "float32";
  /** Size of the file written (header included). */
  readonly bytes: number;
  readonly tiles: number;
  /** Output digest over the tiles written; equal to the manifest's, or nothing is written. */
  readonly digest: string;
  readonly storage: string;
  readonly seconds: number;
}

/** Writes `len` bytes of `buf` from `off` at file position `pos` (a short write continues). */
function pwriteFully(fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  for (let done = 0; done < len; ) {
    done += writeSync(fd, buf, off + done, len - done, pos + done);
  }
}

/**
 * Assembles the job's K×K output tiles into `o.out` (via a temp file beside it, fsynced and
 * renamed into place once the digest matched). Throws CliError naming the tile or the digest.
 */
export async function exportJobResult(
  jobId: string,
  spec: MatmulJobSpec,
  storage: Pick<JobStorage, "spec" | "env">,
  manifestDigest: string,
  o: ExportOptions,
): Promise<ExportReport> {
  if (!HOST_IS_LITTLE_ENDIAN) throw new CliError("job export needs a little-endian host");
  if (!o.force && existsSync(o.out)) {
    throw new CliError(`--out: ${o.out} exists (pass --force to replace it)`, 2);
  }
  const started = performance.now();
  const { n, tile: T } = spec;
  const K = n / T;
  const header = o.format === "npy" ? npyHeader(n, n) : new Uint8Array(0);
  const tmp = `${o.out}.tessera-export-${process.pid}.tmp`;
  const store = createObjectStore(storageConfigFromSpec(storage.spec, storage.env));
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "w", 0o644);
    pwriteFully(fd, header, 0, header.byteLength, 0);
    const checksums = await writeTiles(store, jobId, spec, storage.spec, fd, header.byteLength);
    const digest = jobOutputDigest(spec, (i, j) => checksums[i * K + j] as string);
    if (digest !== manifestDigest) {
      throw new CliError(
        `the stored outputs of ${jobId} are not the ones the manifest recorded (digest ${digest}, manifest ${manifestDigest}); nothing was written to ${o.out}: run \`tessera verify ${jobId}\``,
      );
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, o.out);
    syncDirectory(dirname(o.out));
    return {
      jobId,
      out: o.out,
      format: o.format,
      shape: [n, n],
      dtype: "float32",
      bytes: header.byteLength + n * n * FLOAT32_BYTES,
      tiles: K * K,
      digest,
      storage: storage.spec,
      seconds: Number(((performance.now() - started) / 1000).toFixed(3)),
    };
  } finally {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    await store.close();
  }
}

/** Reads every output tile (READ_AHEAD at a time), writes its rows in place; returns checksums. */
async function writeTiles(
  store: ObjectStore,
  jobId: string,
  spec: MatmulJobSpec,
  storageSpec: string,
  fd: number,
  dataStart: number,
): Promise<string[]> {
  const { n, tile: T } = spec;
  const K = n / T;
  const read = async (t: number): Promise<Uint8Array> => {
    const i = Math.floor(t / K);
    const j = t % K;
    const key = outputKey(jobId, i, j);
    try {
      return await store.get(key);
    } catch (err) {
      const what = err instanceof ObjectNotFoundError ? "is missing" : "could not be read";
      throw new CliError(
        `output tile C(${i},${j}) ${what} (${store.uri(key)} in ${storageSpec}): ${(err as Error).message}`,
      );
    }
  };
  const ahead: Promise<Uint8Array>[] = [];
  let next = 0;
  const checksums: string[] = [];
  for (let t = 0; t < K * K; t++) {
    while (ahead.length < READ_AHEAD && next < K * K) {
      const p = read(next++);
      p.catch(() => undefined); // awaited below in order; never an unhandled rejection meanwhile
      ahead.push(p);
    }
    const bytes = await (ahead.shift() as Promise<Uint8Array>);
    const i = Math.floor(t / K);
    const j = t % K;
    let data: Float32Array;
    try {
      data = decodeTile(bytes, { rows: T, cols: T }).data;
    } catch (err) {
      throw new CliError(`output tile C(${i},${j}) is not a valid tile: ${(err as Error).message}`);
    }
    checksums.push(crc32cHex(bytes));
    const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const rowBytes = T * FLOAT32_BYTES;
    for (let r = 0; r < T; r++) {
      const at = dataStart + ((i * T + r) * n + j * T) * FLOAT32_BYTES;
      pwriteFully(fd, view, r * rowBytes, rowBytes, at);
    }
  }
  return checksums;
}

/** fsync(2) on a directory, so the rename that put the file there survives a crash. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
