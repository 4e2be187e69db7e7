import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  crc32cHex,
  encodeTile,
  jobOutputDigest,
  type MatmulJobSpec,
  outputKey,
} from "@tessera/matrix";
import { createObjectStore, storageConfigFromSpec } from "@tessera/storage";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { exportJobResult, npyHeader } from "./job-export.js";

// What numpy 2.4 writes for `np.save(f, np.zeros(shape, dtype="<f4"))`: the first 128 bytes.
const numpyHeader = (shape: string) =>
  Buffer.concat([
    Buffer.from([0x93]),
    Buffer.from(
      `NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`.padEnd(
        126,
        " ",
      ),
      "latin1",
    ),
    Buffer.from("\n"),
  ]);

describe("npyHeader", () => {
  it("is byte for byte numpy.save's header, data aligned to 64 bytes", () => {
    expect(Buffer.from(npyHeader(64, 64))).toEqual(numpyHeader("(64, 64)"));
    expect(Buffer.from(npyHeader(8192, 8192))).toEqual(numpyHeader("(8192, 8192)"));
    expect(npyHeader(2 ** 20, 2 ** 20).byteLength % 64).toBe(0);
  });
});

describe("exportJobResult (fs store, 64×64 in 16×16 tiles)", () => {
  const spec: MatmulJobSpec = { n: 64, tile: 16, mode: "exact", seed: 1 };
  const K = spec.n / spec.tile;
  const jobId = "job-export-1";
  /** The value of C at (row, col): distinct everywhere, so a misplaced tile row shows. */
  const value = (row: number, col: number) => row * 1000 + col;
  let dir: string;
  let storage: { spec: string; env: Record<string, string> };
  let digest: string;
  let tilePath: (i: number, j: number) => string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-export-"));
    storage = { spec: `fs:${join(dir, "store")}`, env: {} };
    const store = createObjectStore(storageConfigFromSpec(storage.spec, {}));
    const checksums: string[] = [];
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const t = new Float32Array(spec.tile * spec.tile);
        for (let r = 0; r < spec.tile; r++)
          for (let c = 0; c < spec.tile; c++)
            t[r * spec.tile + c] = value(i * spec.tile + r, j * spec.tile + c);
        const bytes = encodeTile(t, { rows: spec.tile, cols: spec.tile, mode: "exact" });
        await store.put(outputKey(jobId, i, j), bytes);
        checksums.push(crc32cHex(bytes));
      }
    }
    await store.close();
    digest = jobOutputDigest(spec, (i, j) => checksums[i * K + j] as string);
    tilePath = (i, j) => join(dir, "store", outputKey(jobId, i, j));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const out = () => join(dir, "C.npy");
  const exportTo = (file: string, format: "npy" | "raw" = "npy", force = false, d = digest) =>
    exportJobResult(jobId, spec, storage, d, { out: file, format, force });
  const expectNoFileBut = (...names: string[]) =>
    expect(readdirSync(dir).sort()).toEqual(["store", ...names].sort());

  it("writes C row-major after the .npy header, every value in place", async () => {
    const report = await exportTo(out());
    expect(report).toMatchObject({
      jobId,
      format: "npy",
      shape: [64, 64],
      dtype: "float32",
      bytes: 128 + 64 * 64 * 4,
      tiles: 16,
      digest,
    });
    const file = readFileSync(out());
    expect(file.byteLength).toBe(report.bytes);
    expect(file.subarray(0, 128)).toEqual(Buffer.from(npyHeader(64, 64)));
    const c = new Float32Array(
      file.buffer.slice(file.byteOffset + 128, file.byteOffset + file.length),
    );
    const wrong = [...c.keys()].filter((x) => c[x] !== value(Math.floor(x / 64), x % 64));
    expect(wrong).toEqual([]);
    expectNoFileBut("C.npy");
  });

  it("raw is the same values with no header", async () => {
    await exportTo(out());
    const raw = join(dir, "C.f32");
    const report = await exportTo(raw, "raw");
    expect(report.bytes).toBe(64 * 64 * 4);
    expect(readFileSync(raw)).toEqual(readFileSync(out()).subarray(128));
  });

  it("refuses stored tiles whose digest is not the manifest's, and writes nothing", async () => {
    const other = "0".repeat(64);
    await expect(exportTo(out(), "npy", false, other)).rejects.toThrow(
      /not the ones the manifest recorded .*nothing was written/,
    );
    expectNoFileBut();
  });

  it("names a missing tile and a damaged one, and writes nothing", async () => {
    rmSync(tilePath(2, 3));
    await expect(exportTo(out())).rejects.toThrow(/output tile C\(2,3\) is missing/);
    expectNoFileBut();

    const damaged = readFileSync(tilePath(1, 0));
    damaged[200] = (damaged[200] ?? 0) ^ 0xff;
    writeFileSync(tilePath(1, 0), damaged);
    await expect(exportTo(out())).rejects.toThrow(/output tile C\(1,0\) could not be read/);
    expectNoFileBut();
  });

  it("does not replace an existing file unless told to", async () => {
    writeFileSync(out(), "keep me");
    await expect(exportTo(out())).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining("exists (pass --force"),
    });
    expect(readFileSync(out(), "utf8")).toBe("keep me");
    await exportTo(out(), "npy", true);
    expect(existsSync(out()) && readFileSync(out()).byteLength).toBe(128 + 64 * 64 * 4);
  });
});
