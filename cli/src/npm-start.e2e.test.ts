// `npm start`'s demo script (scripts/start.mjs, after the build `npm start` runs first), on a
// small job: a local cluster of real processes, a verified exact matmul, the summary, `--out`
// writing the result, and the cluster gone afterwards.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { npyMismatchesWithReference } from "./npy.test-helpers.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const START = join(ROOT, "scripts/start.mjs");
const run = promisify(execFile);

describe("npm start (scripts/start.mjs)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tessera-npm-start-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, "C.npy");
  const args = ["--n", "256", "--tile", "64", "--peers", "1", "--agents", "1"];

  it("runs a verified job, prints the summary, writes C with --out and stops the cluster", async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [START, ...args, "--data", join(dir, "data"), "--out", out],
      { timeout: 180_000 },
    );
    expect(stdout).toMatch(/^verified {3}true /m);
    const summary = JSON.parse(stdout.split("\n").find((l) => l.startsWith("{")) ?? "{}") as Record<
      string,
      unknown
    >;
    expect(summary).toMatchObject({ status: "succeeded", verified: true, tasks: 32 });
    expect(stdout).toContain(`result     ${out} (float32 256×256`);
    expect(stderr).toContain("cluster stopped");

    expect(npyMismatchesWithReference(out, { n: 256, tile: 64, mode: "exact", seed: 1 })).toBe(0);
  });

  it("refuses an --out that exists before starting anything (exit 2)", async () => {
    const refused = await run(process.execPath, [START, ...args, "--out", out]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining("exists") });
    expect(String((refused as { stderr: string }).stderr)).not.toContain(
      "starting a local cluster",
    );
  });
});
