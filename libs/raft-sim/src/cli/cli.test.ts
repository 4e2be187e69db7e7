import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CliUsageError } from "../errors.js";
import { parseArgs } from "./args.js";
import { runCli } from "./main.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

const distCli = fileURLToPath(new URL("../../dist/cli.js", import.meta.url));

describe("pnpm sim flags", () => {
  it("parses every flag, with defaults", () => {
    expect(parseArgs(["--seeds", "5"])).toMatchObject({
      seeds: 5,
      from: 1,
      steps: 1000,
      nodes: 3,
      json: false,
      workers: 1,
    });
    expect(
      parseArgs([
        "--",
        "--seeds=2",
        "--from",
        "7",
        "--steps",
        "50",
        "--nodes",
        "5",
        "--json",
        "--workers",
        "2",
      ]),
    ).toMatchObject({
      seeds: 2,
      from: 7,
      steps: 50,
      nodes: 5,
      json: true,
      workers: 2,
    });
  });

  it.each([
    [["--from", "3"], "--seeds", /required/],
    [["--seeds"], "--seeds", /needs a value/],
    [["--seeds", "abc"], "--seeds", /whole number/],
    [["--seeds", "0"], "--seeds", /between 1/],
    [["--seeds", "1", "--nodes", "4"], "--nodes", /3 or 5/],
    [["--seeds", "1", "--steps", "-5"], "--steps", /needs a value|whole number/],
    [["--seeds", "1", "--frob"], "--frob", /unknown flag/],
    [["--seeds", "1", "--bootstrap", "magic"], "--bootstrap", /conf-state/],
    [["--seeds", "1", "--crash-points", "after-lunch"], "--crash-points", /unknown crash point/],
  ])("rejects %j naming the flag", (argv, flag, reason) => {
    try {
      parseArgs(argv);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CliUsageError);
      expect((e as CliUsageError).flag).toBe(flag);
      expect((e as Error).message).toMatch(reason);
    }
  });

  it("prints a usage error and exits 2 on bad flags", async () => {
    const { io, err } = capture();
    expect(await runCli(["--nodes", "7", "--seeds", "1"], io)).toBe(2);
    expect(err[0]).toMatch(/^error: --nodes: must be 3 or 5/);
  });
});

describe("pnpm sim runs", () => {
  it("prints the JSON summary as the last line (and only JSON with --json)", async () => {
    const { io, out } = capture();
    const code = await runCli(["--seeds", "3", "--from", "10", "--steps", "200", "--json"], io);
    expect(out).toHaveLength(1);
    const s = JSON.parse(out[0]!) as {
      seeds: number;
      failures: number;
      firstFailingSeed: number | null;
    };
    expect(s.seeds).toBe(3);
    expect(code).toBe(s.failures > 0 ? 1 : 0);
    expect(
      s.firstFailingSeed === null || (s.firstFailingSeed >= 10 && s.firstFailingSeed <= 12),
    ).toBe(true);
  });

  it("replays one seed with its details, deterministically", async () => {
    const a = capture();
    const b = capture();
    await runCli(["--seeds", "1", "--from", "31", "--steps", "300"], a.io);
    await runCli(["--seeds", "1", "--from", "31", "--steps", "300"], b.io);
    expect(a.out[0]).toMatch(/^seed 31: (ok|FAILED) after \d+ steps \(digest [0-9a-f]{8}\)/);
    const last = JSON.parse(a.out[a.out.length - 1]!) as { seeds: number; runDigest: string };
    expect(last.seeds).toBe(1);
    const strip = (lines: string[]) => lines.join("\n").replace(/"elapsedMs":\d+/, "");
    expect(strip(b.out)).toBe(strip(a.out));
    expect(JSON.parse(b.out[b.out.length - 1]!).runDigest).toBe(last.runDigest);
  });

  it("splits seeds across worker processes with the same verdicts and digest as one process", () => {
    // Both runs use the built CLI, so they run the same build of @tessera/raft.
    expect(existsSync(distCli), "build first: pnpm build (workers run dist/cli.js)").toBe(true);
    const run = (extra: string[]) => {
      const r = spawnSync(
        process.execPath,
        [distCli, "--seeds", "6", "--from", "100", "--steps", "300", "--json", ...extra],
        { encoding: "utf8" },
      );
      const lines = r.stdout.trim().split("\n");
      return {
        status: r.status,
        summary: JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>,
      };
    };
    const one = run([]);
    const two = run(["--workers", "2"]);
    expect(two.summary.workers).toBe(2);
    for (const k of [
      "seeds",
      "failures",
      "firstFailingSeed",
      "failingSeeds",
      "digest",
      "stepsSimulated",
    ]) {
      expect(two.summary[k], k).toEqual(one.summary[k]);
    }
    expect(two.status).toBe(one.status);
    expect(two.status).toBe((one.summary.failures as number) > 0 ? 1 : 0);
  });
});
