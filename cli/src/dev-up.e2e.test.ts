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
  let jobId: string | undefined;

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
      [
        "agents",
        "dataDir",
        "http",
        "nats",
        "natsPid",
        "peers",
        "scheduler",
        "storageManager",
      ].sort(),
    );
    expect(alive(info.natsPid!)).toBe(true);
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
    // No --k-per-map: auto groups all 4 inner tiles per map (4·64² ≤ 2^24), so 16 maps + 16 reduces.
    expect(s).toMatchObject({ status: "succeeded", verified: true, tasks: 32 });
    expect(s.digest).toMatch(/^[0-9a-f]{64}$/);
    jobId = String(s.jobId);

    // No --storage, no TESSERA_STORAGE, and the cluster is not in the default data directory:
    // verify finds the storage where the manifest says the job wrote its outputs.
    const { TESSERA_STORAGE: _, ...env } = process.env;
    const verify = await run(
      process.execPath,
      [MAIN, "verify", String(s.jobId), "--json", "--server", info!.http],
      { env },
    );
    const v = JSON.parse(verify.stdout) as Record<string, unknown>;
    expect(v).toMatchObject({
      verified: true,
      digest: s.digest,
      digestMatches: true,
      check: "rows",
      storage: `fs:${join(data, "storage")}`,
      storageFrom: "manifest",
    });
    // Exact mode reports how unlikely a wrong output is to pass: (2·floor(2^29/n))^−rounds.
    expect(v.missProbabilityBound).toBeLessThan(2 ** -30);

    // One task of it: done, its output verified and stored under its deterministic key.
    const task = await run(process.execPath, [
      MAIN,
      "job",
      "status",
      String(s.jobId),
      "--task",
      "r-0-1",
      "--json",
      "--server",
      info!.http,
    ]);
    const t = JSON.parse(task.stdout) as { state: string; output: Record<string, unknown> };
    expect(t).toMatchObject({ taskId: "r-0-1", kind: "reduce", state: "done", live: [] });
    expect(t.output).toMatchObject({ verified: true, bytes: expect.any(Number) });
    expect(String(t.output.uri)).toMatch(new RegExp(`/jobs/${String(s.jobId)}/C/0-1\\.tile$`));
    // The job is done: no live attempts left.
    const live = await run(process.execPath, [
      MAIN,
      "job",
      "status",
      String(s.jobId),
      "--live",
      "--json",
      "--server",
      info!.http,
    ]);
    expect(JSON.parse(live.stdout)).toMatchObject({ jobId: s.jobId, attempts: [] });

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

    const list = await run(process.execPath, [
      MAIN,
      "job",
      "list",
      "--json",
      "--server",
      info!.http,
    ]);
    expect((JSON.parse(list.stdout) as { jobs: unknown[] }).jobs).toContainEqual({
      jobId: s.jobId,
      state: "succeeded",
      n: 256,
      tile: 64,
      kPerMap: 4,
      done: 32,
      tasks: 32,
    });
  });

  it("tessera logs finds every service's lines about the job in the centralized logs", async () => {
    const search = async (...flags: string[]) => {
      const { stdout } = await run(process.execPath, [
        MAIN,
        "logs",
        "--json",
        "--nats",
        info!.nats,
        "--since",
        "10m",
        ...flags,
      ]);
      return JSON.parse(stdout) as { lines: Record<string, unknown>[]; matched: number };
    };
    const all = await search("--job", jobId!, "--limit", "100000");
    expect(all.lines.length).toBe(all.matched);
    expect(all.lines.every((l) => l.jobId === jobId)).toBe(true);
    const services = new Set(all.lines.map((l) => l.service));
    for (const s of ["scheduler", "agent", "storage-manager"]) expect(services).toContain(s);
    // One task, one service: the agent that ran map m-0-0-0 reported it once.
    const task = await search("--job", jobId!, "--task", "m-0-0-0", "--service", "agent");
    expect(task.lines.map((l) => l.msg)).toEqual(["work item completed"]);
    expect(task.lines[0]).toMatchObject({ taskId: "m-0-0-0", attempt: 1 });
    // The summary counts every match even when --limit prints fewer.
    const last = await search("--job", jobId!, "--limit", "3");
    expect(last.lines).toHaveLength(3);
    expect(last.matched).toBe(all.matched);
    const bad = await run(process.execPath, [MAIN, "logs", "--level", "loud"]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining("--level") });
  });

  it("stops everything it started on SIGTERM", async () => {
    dev!.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => dev!.once("exit", (c) => r(c)));
    expect(code).toBe(0);
    for (const p of [...info!.peers, ...info!.agents, info!.scheduler, info!.storageManager]) {
      expect(alive(p.pid)).toBe(false);
    }
    expect(alive(info!.natsPid!)).toBe(false);
  });
});
