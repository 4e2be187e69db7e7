import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ortTelemetryOverride } from "./ort-telemetry.js";

describe("ONNX Runtime telemetry", () => {
  it("is turned off unless the operator chose (ORT_DISABLE_TELEMETRY either way, or TESSERA_ORT_TELEMETRY=1)", () => {
    expect(ortTelemetryOverride({})).toEqual({ ORT_DISABLE_TELEMETRY: "1" });
    expect(ortTelemetryOverride({ TESSERA_ORT_TELEMETRY: "0" })).toEqual({
      ORT_DISABLE_TELEMETRY: "1",
    });
    expect(ortTelemetryOverride({ TESSERA_ORT_TELEMETRY: "1" })).toBeUndefined();
    expect(ortTelemetryOverride({ ORT_DISABLE_TELEMETRY: "0" })).toBeUndefined();
    expect(ortTelemetryOverride({ ORT_DISABLE_TELEMETRY: "1" })).toBeUndefined();
  });

  const scratch = mkdtempSync(join(tmpdir(), "tessera-ort-telemetry-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  // ONNX Runtime 1.30 with telemetry on writes a device id and an event cache under
  // $HOME/.cache/Microsoft/DeveloperTools and a mat-debug-<pid>.log under $TMPDIR.
  it("leaves no telemetry files behind an agent's kernels, on either thread (real onnxruntime-node, child process)", () => {
    const home = join(scratch, "home");
    const tmp = join(scratch, "tmp");
    for (const d of [home, tmp]) mkdirSync(d, { recursive: true });
    const agent = pathToFileURL(join(import.meta.dirname, "../../dist/index.js")).href;
    const script = `
      const { KernelRunner, KernelThreads } = await import(${JSON.stringify(agent)});
      const r = await KernelRunner.create({ ep: "cpu" });
      // The agent's way: GEMMs on a kernel thread (sessions created there), sums on this one.
      const k = new KernelThreads(r, { threads: 1, inlineMaxTile: 0 });
      const t = new Float32Array(256).fill(1);
      const c = await k.matmul(t, t, 16);
      await k.sum([t, t], 16);
      await k.dispose();
      console.log(JSON.stringify({ c0: c[0], flag: process.env.ORT_DISABLE_TELEMETRY }));`;
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: tmp };
    const file = join(scratch, "kernels.mjs");
    writeFileSync(file, script);
    const child = spawnSync(process.execPath, [file], {
      env,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(child.status, child.stderr).toBe(0);
    expect(JSON.parse(child.stdout.trim().split("\n").at(-1) as string)).toEqual({
      c0: 16,
      flag: "1",
    });
    expect(existsSync(join(home, ".cache", "Microsoft"))).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.startsWith("mat-debug-"))).toEqual([]);
  });
});
