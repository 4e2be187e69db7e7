// The real thing: `tessera dev up --json` (nats-server, 3 consensus peers, scheduler,
// storage-manager, 2 agents as processes), then `tessera job submit matmul --n 256 --tile 64
// --wait --json` against it, then SIGTERM and every process it started is gone.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import type { DevClusterInfo } from "./dev-cluster.js";

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const run = promisify(execFile);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("tessera dev up + job submit --wait (real processes)", () => {
  const data = mkdtempSync(join(tmpdir(), "tessera-cli-e2e-"));
  let dev: ChildProcess | undefined;
  let info: DevClusterInfo | undefined;

  afterAll(async () => {
    if (dev && dev.exitCode === null) {
      dev.kill("SIGTERM");
      await new Promise((r) => dev?.once("exit", r));
    }
    rmSync(data, { recursive: true, force: true });
  });

  it("prints one JSON line naming every endpoint and pid", async () => {
    dev = spawn(
      process.execPath,
      [MAIN, "dev", "up", "--json", "--data", data, "--agent-ep", "cpu"],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      dev!.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        const nl = buf.indexOf("\n");
        if (nl >= 0) resolve(buf.slice(0, nl));
      });
      dev!.once("exit", (code) => reject(new Error(`dev up exited with ${code}`)));
    });
    info = JSON.parse(line) as DevClusterInfo;
    expect(Object.keys(info).sort()).toEqual(
      ["agents", "dataDir", "http", "nats", "peers", "scheduler", "storageManager"].sort(),
    );
    expect(info.peers).toHaveLength(3);
    expect(info.agents.map((a) => a.id)).toEqual(["agent-1", "agent-2"]);
    for (const p of [...info.peers, ...info.agents, info.scheduler, info.storageManager]) {
      expect(alive(p.pid)).toBe(true);
      // Every process answers /readyz on the address the info line names (scraped by Prometheus).
      expect((await fetch(`${p.http}/readyz`)).status, p.http).toBe(200);
    }
  });

  it("runs a verified job and prints the summary object", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        MAIN,
        "job",
        "submit",
        "matmul",
        "--n",
        "256",
        "--tile",
        "64",
        "--wait",
        "--json",
        "--server",
        info!.http,
      ],
      { timeout: 300_000 },
    );
    const lines = stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(s).sort()).toEqual(
      [
        "attempts",
        "bytesMoved",
        "digest",
        "gflops",
        "jobId",
        "status",
        "tasks",
        "verified",
        "wallSeconds",
      ].sort(),
    );
    expect(s).toMatchObject({ status: "succeeded", verified: true, tasks: 80 });
    expect(s.digest).toMatch(/^[0-9a-f]{64}$/);

    const verify = await run(process.execPath, [
      MAIN,
      "verify",
      String(s.jobId),
      "--json",
      "--server",
      info!.http,
      "--storage",
      `fs:${join(data, "storage")}`,
    ]);
    expect(JSON.parse(verify.stdout)).toMatchObject({
      verified: true,
      digest: s.digest,
      digestMatches: true,
    });

    const cluster = await run(process.execPath, [
      MAIN,
      "cluster",
      "status",
      "--json",
      "--server",
      info!.http,
    ]);
    const c = JSON.parse(cluster.stdout) as { leader: number; peers: { role: string }[] };
    expect(c.peers.filter((p) => p.role === "leader")).toHaveLength(1);
  });

  it("stops everything it started on SIGTERM", async () => {
    dev!.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => dev!.once("exit", (c) => r(c)));
    expect(code).toBe(0);
    for (const p of [...info!.peers, ...info!.agents, info!.scheduler, info!.storageManager]) {
      expect(alive(p.pid)).toBe(false);
    }
  });
});
