// The real thing: `tessera dev up --json` (nats-server, 3 consensus peers, scheduler,
// storage-manager, 2 agents as processes), then `tessera job submit matmul --n 256 --tile 64
// --wait --json` against it, then SIGTERM and every process it started is gone. Then the same job
// on `--storage s3` with no S3 configured (dev up's own local S3 endpoint), and with the peers'
// API over HTTPS (a CA made with openssl, handed on by `dev env`).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { httpsGet, makeTestPki, type TestPki } from "@tessera/harness";
import { afterAll, describe, expect, it } from "vitest";
import { DEV_STATE_FILE, type DevClusterInfo, freePort } from "./dev-cluster.js";
import { npyMismatchesWithReference } from "./npy.test-helpers.js";

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const CONSENSUS_MAIN = fileURLToPath(
  new URL("../../services/consensus/dist/main.js", import.meta.url),
);
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `tessera dev up --json --agent-ep cpu ARGS`: the process and its info line. */
async function devUp(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ dev: ChildProcess; info: DevClusterInfo }> {
  const dev = spawn(process.execPath, [MAIN, "dev", "up", "--json", "--agent-ep", "cpu", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
    env,
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    dev.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    dev.once("exit", (code) => reject(new Error(`dev up exited with ${code}`)));
  });
  return { dev, info: JSON.parse(line) as DevClusterInfo };
}

/** `job submit` of the e2e job (`submitArgs`: 32 tasks) with --wait, against `server`: the summary. */
async function submitWaited(server: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [MAIN, ...submitArgs, "--server", server], {
    timeout: 300_000,
  });
  const summary = JSON.parse(stdout.trim()) as Record<string, unknown>;
  expect(summary).toMatchObject({ tasks: 32 });
  return summary;
}

async function stopDevUp(dev: ChildProcess | undefined): Promise<void> {
  if (dev && dev.exitCode === null && dev.signalCode === null) {
    dev.kill("SIGTERM");
    await new Promise((r) => dev.once("exit", r));
  }
}

/**
 * `tessera job export JOB --out FILE --json ARGS`, then every value of FILE (a .npy) compared
 * with the reference product of the e2e job's spec; returns the command's JSON object.
 */
async function exportAndCompare(
  jobId: string,
  out: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, unknown>> {
  const { stdout } = await run(
    process.execPath,
    [MAIN, "job", "export", jobId, "--out", out, "--json", ...args],
    { env },
  );
  const report = JSON.parse(stdout) as Record<string, unknown>;
  expect(report).toMatchObject({ format: "npy", shape: [256, 256], tiles: 16 });
  expect(npyMismatchesWithReference(out, { n: 256, tile: 64, mode: "exact", seed: 1 })).toBe(0);
  return report;
}

/** This process's environment without the API settings a developer's shell may export. */
function withoutApiSettings(): NodeJS.ProcessEnv {
  const {
    TESSERA_API_CA: _ca,
    TESSERA_API_TOKEN_FILE: _t,
    TESSERA_SERVER: _s,
    ...env
  } = process.env;
  return env;
}

const submitArgs = ["job", "submit", "matmul", "--n", "256", "--tile", "64", "--wait", "--json"];

/** The digest of the fs run below: the S3 run of the same spec must store the same bytes. */
let fsDigest: string | undefined;

describe("tessera dev up + job submit --wait (real processes)", () => {
  const data = mkdtempSync(join(tmpdir(), "tessera-cli-e2e-"));
  let dev: ChildProcess | undefined;
  let info: DevClusterInfo | undefined;
  let jobId: string | undefined;

  afterAll(async () => {
    await stopDevUp(dev);
    rmSync(data, { recursive: true, force: true });
  });

  /** `tessera ARGS --server <every peer>`; settles with the failure too (code, stdout, stderr). */
  const tessera = (...args: string[]) =>
    run(process.execPath, [MAIN, ...args, "--server", info!.peers.map((p) => p.http).join(",")], {
      timeout: 120_000,
    }).catch((e: { code: number; stdout: string; stderr: string }) => e);

  it("prints one JSON line naming every endpoint and pid", async () => {
    ({ dev, info } = await devUp(["--data", data]));
    expect(Object.keys(info).sort()).toEqual(
      [
        "agents",
        "dataDir",
        "http",
        "nats",
        "natsPid",
        "peers",
        "scheduler",
        "schedulers",
        "storageManager",
      ].sort(),
    );
    expect(info.schedulers).toEqual([{ id: "scheduler", ...info.scheduler }]);
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
    const { stdout } = await run(process.execPath, [MAIN, ...submitArgs, "--server", info!.http], {
      timeout: 300_000,
    });
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
    fsDigest = String(s.digest);

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

    // Its result, as a user takes it away: one .npy file, equal to A·B computed here.
    const exported = await exportAndCompare(
      String(s.jobId),
      join(data, "C.npy"),
      ["--server", info!.http],
      env,
    );
    expect(exported).toMatchObject({ digest: s.digest, storageFrom: "manifest" });

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
      submittedAt: expect.any(Number),
      finishedAt: expect.any(Number),
    });
  });

  it("job status --wait attaches to a job submitted without --wait", async () => {
    const server = ["--server", info!.http];
    const submitted = await run(process.execPath, [
      MAIN,
      ...submitArgs.filter((a) => a !== "--wait"),
      "--max-attempts",
      "2",
      ...server,
    ]);
    const { jobId: id } = JSON.parse(submitted.stdout) as { jobId: string };
    const waited = await run(
      process.execPath,
      [MAIN, "job", "status", id, "--wait", "--json", ...server],
      { timeout: 300_000 },
    );
    const lines = waited.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!) as Record<string, unknown>;
    // The same summary object as submit --wait, for the same spec the same digest.
    expect(s).toMatchObject({ jobId: id, status: "succeeded", verified: true, tasks: 32 });
    expect(s.digest).toBe(fsDigest);
    // Timed by the manifest (submitted → finished), so asking again later gives the same figure.
    expect(s.wallSeconds).toBeGreaterThan(0);
    const again = await run(process.execPath, [
      MAIN,
      "job",
      "status",
      id,
      "--wait",
      "--json",
      ...server,
    ]);
    expect(JSON.parse(again.stdout)).toEqual(s);
    // --max-attempts reached the manifest with the job.
    const view = await run(process.execPath, [MAIN, "job", "status", id, "--json", ...server]);
    expect(JSON.parse(view.stdout)).toMatchObject({ jobId: id, maxAttempts: 2 });

    const missing = await run(process.execPath, [
      MAIN,
      "job",
      "status",
      "no-such-job",
      "--wait",
      ...server,
    ]).catch((e: { code: number; stderr: string }) => e);
    expect(missing).toMatchObject({ code: 1 });
    expect((missing as { stderr: string }).stderr).toContain("no-such-job");
  });

  it("an empty job (--mode empty) runs its whole task graph and stores nothing", async () => {
    const r = (await tessera(
      "job",
      "submit",
      "matmul",
      "--n",
      "256",
      "--tile",
      "32",
      "--k-per-map",
      "1",
      "--mode",
      "empty",
      "--job-id",
      "empty-1",
      "--wait",
      "--json",
    )) as { code?: number; stdout: string };
    expect(r.code ?? 0).toBe(0);
    // 8³ maps + 8² reduces, each started once through the manifest; nothing to verify.
    expect(JSON.parse(r.stdout)).toMatchObject({
      jobId: "empty-1",
      status: "succeeded",
      verified: null,
      tasks: 576,
      attempts: 576,
      gflops: 0,
      bytesMoved: 0,
    });
    expect(existsSync(join(data, "storage", "jobs", "empty-1"))).toBe(false);
    const task = JSON.parse(
      (
        (await tessera("job", "status", "empty-1", "--task", "r-7-7", "--json")) as {
          stdout: string;
        }
      ).stdout,
    ) as { output: unknown };
    expect(task.output).toMatchObject({ uri: "empty:jobs/empty-1/C/7-7.tile", bytes: 0 });
    expect(await tessera("verify", "empty-1")).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('mode "empty": its tasks stored nothing'),
    });
  });

  it("tessera top: one frame names the leader, peers, nodes and jobs; live, it follows a job to its end", async () => {
    const once = await tessera("top", "--once", "--json");
    const frame = JSON.parse((once as { stdout: string }).stdout) as {
      cluster: { leader: number; peers: { id: number; reachable: boolean }[] };
      nodes: { nodeId: string; state: string }[];
      jobs: { jobId: string; state: string; verified: boolean; digest: string }[];
    };
    expect(info!.peers.map((p) => p.id)).toContain(frame.cluster.leader);
    expect(frame.cluster.peers.map((p) => p.reachable)).toEqual([true, true, true]);
    expect(frame.nodes.map((n) => `${n.nodeId} ${n.state}`).sort()).toEqual([
      "agent-1 active",
      "agent-2 active",
    ]);
    expect(frame.jobs.find((j) => j.jobId === jobId)).toMatchObject({
      state: "succeeded",
      verified: true,
      digest: fsDigest,
    });

    // Live: a frame per poll on stdout (not a terminal), while a 576-task job runs.
    const top = spawn(
      process.execPath,
      [MAIN, "top", "--json", "--interval", "0.2", "--server", info!.http],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    top.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => top.once("exit", (code) => r(code)));
    try {
      const submitted = await tessera(
        ...["job", "submit", "matmul", "--n", "512", "--tile", "64", "--k-per-map", "1", "--json"],
      );
      const { jobId: id } = JSON.parse((submitted as { stdout: string }).stdout) as {
        jobId: string;
      };
      type Frame = {
        jobs: { jobId: string; state: string; tasksPerSecond: number | null }[];
        events: { text: string }[];
      };
      const frames = () =>
        out
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l) as Frame);
      const deadline = Date.now() + 120_000;
      while (!frames().some((f) => f.jobs.some((j) => j.jobId === id && j.state === "succeeded"))) {
        if (Date.now() > deadline) throw new Error(`top never showed ${id} succeeded:\n${out}`);
        await sleep(100);
      }
      const seen = frames();
      // Progress measured between polls while it ran, and its end among the events.
      expect(
        seen.some((f) => f.jobs.some((j) => j.jobId === id && (j.tasksPerSecond ?? 0) > 0)),
      ).toBe(true);
      expect(seen.at(-1)?.events.map((e) => e.text)).toContainEqual(
        expect.stringMatching(new RegExp(`^${id} \\w+ → succeeded \\(verified\\)$`)),
      );
    } finally {
      top.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  });

  it("job profile says where the job's time went and names a bottleneck", async () => {
    const { stdout } = await run(process.execPath, [
      MAIN,
      "job",
      "profile",
      jobId!,
      "--json",
      "--server",
      info!.http,
      "--nats",
      info!.nats,
      "--timeline",
    ]);
    const p = JSON.parse(stdout) as {
      state: string;
      tasks: number;
      items: number;
      distinctTasks: number;
      busySeconds: number;
      computeSeconds: number;
      phases: Record<string, number>;
      occupancy: number;
      nodes: { node: string; items: number }[];
      bottleneck: { stage: string; reason: string };
      timeline: { node: string; taskId: string; startSeconds: number; endSeconds: number }[];
    };
    // --timeline: one row per timed item, in start order, each inside the job's compute window
    // (a few ms of slack: the agents' clocks against the leader's).
    expect(p.timeline).toHaveLength(p.items);
    const starts = p.timeline.map((r) => r.startSeconds);
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    for (const r of p.timeline) {
      expect(r.endSeconds).toBeGreaterThanOrEqual(r.startSeconds);
      expect(r.startSeconds).toBeGreaterThan(-0.5);
      expect(r.endSeconds).toBeLessThan(p.computeSeconds + 0.5);
    }
    // Every task's completion line was shipped by the agent that ran it, with its timings.
    expect(p).toMatchObject({ state: "succeeded", tasks: 32, distinctTasks: 32 });
    expect(p.items).toBeGreaterThanOrEqual(32);
    expect(p.nodes.reduce((s, n) => s + n.items, 0)).toBe(p.items);
    for (const n of p.nodes) expect(["agent-1", "agent-2"]).toContain(n.node);
    const phases = p.phases.readSeconds! + p.phases.computeSeconds! + p.phases.writeSeconds!;
    expect(phases).toBeGreaterThan(0);
    expect(phases).toBeLessThanOrEqual(p.busySeconds + 0.01);
    expect(p.occupancy).toBeGreaterThan(0);
    expect(p.occupancy).toBeLessThanOrEqual(1);
    expect(["kernel", "storage-read", "storage-write", "control-plane"]).toContain(
      p.bottleneck.stage,
    );
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

  it("job delete removes a finished job and its stored objects; the id is never reused", async () => {
    /** Tile files stored under jobs/<jobId>/ (none once that directory is gone or empty). */
    const files = (jobId: string) => {
      const dir = join(data, "storage", "jobs", jobId);
      if (!existsSync(dir)) return [];
      return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".tile"));
    };
    // A job that is still running cannot be deleted: cancel it first.
    await tessera(
      "job",
      "submit",
      "matmul",
      "--n",
      "1024",
      "--tile",
      "64",
      "--k-per-map",
      "1",
      "--job-id",
      "busy",
    );
    expect(await tessera("job", "delete", "busy")).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("cancel it first"),
    });
    await tessera("job", "cancel", "busy");
    expect(await tessera("job", "delete", "busy")).toMatchObject({
      stdout: expect.stringContaining("deleted from the manifest"),
    });

    await tessera(...submitArgs, "--job-id", "short-lived");
    // Its 16 outputs, once the storage-manager has cleaned the partials: it does so after the
    // job succeeded, asynchronously (here possibly still busy deleting "busy"'s objects).
    const cleaned = Date.now() + 30_000;
    while (files("short-lived").length > 16 && Date.now() < cleaned) await sleep(200);
    expect(files("short-lived")).toHaveLength(16);
    const deleted = await tessera("job", "delete", "short-lived", "--json");
    expect(JSON.parse((deleted as { stdout: string }).stdout)).toMatchObject({
      ok: true,
      result: { jobId: "short-lived", state: "deleted", changed: true },
    });
    const deadline = Date.now() + 30_000;
    while ((files("short-lived").length > 0 || files("busy").length > 0) && Date.now() < deadline)
      await sleep(200);
    expect([...files("short-lived"), ...files("busy")]).toEqual([]);
    expect(await tessera("job", "status", "short-lived")).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("does not exist"),
    });
    expect(
      await tessera("job", "submit", "matmul", "--n", "256", "--job-id", "short-lived"),
    ).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("never reused"),
    });
    expect(await tessera("job", "delete", "short-lived")).toMatchObject({
      stdout: expect.stringContaining("already deleted"),
    });
    // The other jobs are untouched.
    const list = JSON.parse(
      ((await tessera("job", "list", "--json")) as { stdout: string }).stdout,
    ) as { jobs: { jobId: string }[] };
    expect(list.jobs.map((j) => j.jobId)).toContain(jobId);
    expect(list.jobs.map((j) => j.jobId)).not.toContain("short-lived");
    // --finished N: the unfinished jobs and only the N latest to finish (server-side filter).
    const listed = async (...flags: string[]) =>
      (
        JSON.parse(
          ((await tessera("job", "list", "--json", ...flags)) as { stdout: string }).stdout,
        ) as { jobs: { jobId: string; finishedAt: number | null }[] }
      ).jobs;
    const all = await listed();
    const latest = Math.max(...all.map((j) => j.finishedAt ?? 0));
    expect(all.filter((j) => j.finishedAt !== null).length).toBeGreaterThan(1);
    expect((await listed("--finished", "0")).filter((j) => j.finishedAt !== null)).toEqual([]);
    expect(
      (await listed("--finished", "1"))
        .filter((j) => j.finishedAt !== null)
        .map((j) => j.finishedAt),
    ).toEqual([latest]);
    expect(await tessera("job", "list", "--finished", "all")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--finished"),
    });

    // Retention in bulk: every job finished by now (--dry-run first: nothing goes).
    expect(await tessera("job", "delete")).toMatchObject({ code: 2 });
    expect(await tessera("job", "delete", "x", "--finished-before", "1d")).toMatchObject({
      code: 2,
    });
    const json = async (...args: string[]) =>
      JSON.parse(((await tessera(...args, "--json")) as { stdout: string }).stdout) as {
        selected: string[];
        deleted: string[];
        failed: unknown[];
        jobs: unknown[];
      };
    const dry = await json("job", "delete", "--finished-before", "0s", "--dry-run");
    expect(dry.selected).toContain(jobId);
    expect(dry.deleted).toEqual([]);
    const bulk = await json("job", "delete", "--finished-before", "0s");
    expect(bulk.deleted.sort()).toEqual(dry.selected.sort());
    expect(bulk.failed).toEqual([]);
    expect((await json("job", "list")).jobs).toEqual([]);
  });

  it("cluster transfer, remove-peer and add-peer change who leads and who votes", async () => {
    // Asked of one peer: a removed peer still answers, with its own stale view.
    let asked = info!.http;
    const status = async () =>
      JSON.parse(
        (
          (await run(process.execPath, [
            MAIN,
            "cluster",
            "status",
            "--json",
            "--server",
            asked,
          ])) as {
            stdout: string;
          }
        ).stdout,
      ) as { leader: number; peers: { id: number; role: string }[] };
    /** Polls `check` for up to 10 s (followers learn a leader or a conf change a beat later). */
    const until = async (check: () => Promise<boolean>) => {
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
        if (await check()) return true;
      }
      return false;
    };
    const [to, gone] = (await status()).peers.filter((p) => p.role === "follower").map((p) => p.id);
    expect(await tessera("cluster", "transfer", "--to", String(to))).toMatchObject({
      stdout: expect.stringContaining(`the leader is now peer ${to}`),
    });
    asked = info!.peers.find((p) => p.id === to)!.http;
    expect(await until(async () => (await status()).leader === to)).toBe(true);
    expect(await tessera("cluster", "remove-peer", String(gone))).toMatchObject({
      stdout: expect.stringContaining(`peer ${gone} removed`),
    });
    expect(await until(async () => !(await status()).peers.some((p) => p.id === gone))).toBe(true);

    // A new peer: started empty with --join, then added (learner, caught up, voter).
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const voters = info!.peers.filter((p) => p.id !== gone).map((p) => `${p.id}=${p.grpc}`);
    const joiner = spawn(
      process.execPath,
      [CONSENSUS_MAIN, "--id", "4", "--join", "--grpc", `127.0.0.1:${grpcPort}`]
        .concat(["--http", `127.0.0.1:${httpPort}`, "--peers", voters.join(",")])
        .concat(["--data", join(data, "peer-4"), "--nats", info!.nats]),
      { stdio: "ignore" },
    );
    try {
      const healthz = `http://127.0.0.1:${httpPort}/healthz`;
      await until(() =>
        fetch(healthz).then(
          (r) => r.ok,
          () => false,
        ),
      );
      const added = await tessera(
        ...["cluster", "add-peer", "4", "--grpc", `127.0.0.1:${grpcPort}`],
        ...["--http", `http://127.0.0.1:${httpPort}`],
      );
      expect(added).toMatchObject({ stdout: expect.stringContaining("peer 4 added") });
      const ids = [...info!.peers.map((p) => p.id).filter((id) => id !== gone), 4].sort();
      const members = async () => `${(await status()).peers.map((p) => p.id).sort()}`;
      expect(await until(async () => (await members()) === `${ids}`)).toBe(true);
      const after = await status();
      expect(after.peers.filter((p) => p.role === "leader")).toHaveLength(1);
      // The changed cluster still commits: a whole job runs and verifies.
      const job = await tessera(...submitArgs);
      expect(JSON.parse((job as { stdout: string }).stdout)).toMatchObject({ verified: true });
      // Bad input names the argument (exit 2), nothing is sent.
      expect(await tessera("cluster", "add-peer", "5", "--grpc", "nohost")).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("--grpc"),
      });
    } finally {
      joiner.kill("SIGTERM");
      await new Promise((r) => joiner.once("exit", r));
    }
  });

  it("tessera stop --data DIR stops everything it started (SIGTERM to dev up)", async () => {
    const exited = new Promise<number | null>((r) => dev!.once("exit", (c) => r(c)));
    const stopped = await run(process.execPath, [MAIN, "stop", "--data", data, "--json"]);
    expect(JSON.parse(stopped.stdout)).toEqual({ stopped: true, pid: dev!.pid });
    expect(await exited).toBe(0);
    for (const p of [...info!.peers, ...info!.agents, info!.scheduler, info!.storageManager]) {
      expect(alive(p.pid)).toBe(false);
    }
    expect(alive(info!.natsPid!)).toBe(false);
  });
});

// The S3 code path of every service in one job: with `--storage s3` and no S3 configured, dev up
// runs a local S3 endpoint (s3rver) and points the agents and the storage-manager at it.
describe("tessera dev up --storage s3 with no S3 configured (a local s3rver)", () => {
  const data = mkdtempSync(join(tmpdir(), "tessera-cli-e2e-s3-"));
  let dev: ChildProcess | undefined;
  let info: DevClusterInfo | undefined;
  const { TESSERA_STORAGE: _s, TESSERA_S3_ENDPOINT: _e, AWS_REGION: _r, ...env } = process.env;

  afterAll(async () => {
    await stopDevUp(dev);
    rmSync(data, { recursive: true, force: true });
  });

  it("runs a verified job whose outputs are S3 objects, byte for byte the fs run's", async () => {
    ({ dev, info } = await devUp(
      ["--data", data, "--storage", "s3", "--peers", "1", "--agents", "1"],
      env,
    ));
    const s3 = info.s3!;
    expect(s3).toMatchObject({ bucket: "tessera-dev", directory: join(data, "s3") });
    expect(alive(s3.pid)).toBe(true);

    const { stdout } = await run(process.execPath, [MAIN, ...submitArgs, "--server", info.http], {
      timeout: 300_000,
      env,
    });
    const s = JSON.parse(stdout.trim()) as { jobId: string; digest: string };
    expect(s).toMatchObject({ status: "succeeded", verified: true, tasks: 32 });
    if (fsDigest) expect(s.digest).toBe(fsDigest);
    // s3rver keeps each object as a file: the outputs are there, under the job's keys.
    const outputs = readdirSync(join(s3.directory, "tessera-dev", "jobs", s.jobId, "C"));
    expect(outputs.filter((f) => f.endsWith("._S3rver_object"))).toHaveLength(16);

    // With no S3 configured in its environment (a --data cluster's state is not where the CLI
    // looks), verify says what to set instead of only the SDK's "could not load credentials".
    const unconfigured = await run(
      process.execPath,
      [MAIN, "verify", s.jobId, "--server", info.http],
      {
        env: { ...env, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "" },
      },
    ).catch((e: { code: number; stderr: string }) => e);
    expect(unconfigured).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("set TESSERA_S3_ENDPOINT"),
    });

    // `tessera dev env` names the cluster, its storage and its local S3 for a shell to export.
    const devEnv = async (...flags: string[]) =>
      (await run(process.execPath, [MAIN, "dev", "env", "--data", data, ...flags], { env })).stdout;
    const exported = JSON.parse(await devEnv("--json")) as Record<string, string>;
    expect(exported).toEqual({
      TESSERA_SERVER: info.peers.map((p) => p.http).join(","),
      TESSERA_NATS_URL: info.nats,
      TESSERA_STORAGE: "s3:tessera-dev",
      TESSERA_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
    });
    expect(await devEnv()).toContain(`export TESSERA_S3_ENDPOINT='${s3.endpoint}'\n`);

    // With those exported, no flag is needed: the storage read back over the S3 protocol, from
    // TESSERA_STORAGE, or (without it) from the manifest's URIs (s3://tessera-dev/...).
    const { TESSERA_STORAGE: storage, ...withoutStorage } = exported;
    for (const [vars, from] of [
      [exported, "TESSERA_STORAGE"],
      [withoutStorage, "manifest"],
    ] as const) {
      const verify = await run(process.execPath, [MAIN, "verify", s.jobId, "--json"], {
        env: { ...env, ...vars },
      });
      expect(JSON.parse(verify.stdout)).toMatchObject({
        verified: true,
        digest: s.digest,
        storage,
        storageFrom: from,
      });
    }
    // The result read back over the S3 protocol is A·B too.
    const out = join(data, "C.npy");
    expect(await exportAndCompare(s.jobId, out, [], { ...env, ...exported })).toMatchObject({
      digest: s.digest,
      storage,
    });
  });

  // Linux: every child runs under `setpriv --pdeathsig TERM`, so none outlives a dev up that
  // was killed without the chance to stop them.
  it.skipIf(process.platform !== "linux")(
    "leaves no process behind when dev up itself is SIGKILLed",
    async () => {
      const c = info!;
      const pids = [
        c.natsPid!,
        c.s3!.pid,
        ...[...c.peers, ...c.agents, c.scheduler, c.storageManager].map((p) => p.pid),
      ];
      expect(pids.every(alive)).toBe(true);
      dev!.kill("SIGKILL");
      await new Promise((r) => dev!.once("exit", r));
      const deadline = Date.now() + 30_000;
      while (pids.some(alive) && Date.now() < deadline) await sleep(200);
      expect(pids.filter(alive)).toEqual([]);
      // Its state file is left behind; `dev env` does not hand out a dead cluster's addresses.
      const stale = await run(process.execPath, [MAIN, "dev", "env", "--data", data]).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(stale).toMatchObject({ code: 1, stderr: expect.stringContaining("is not running") });
    },
  );
});

// `--restart`: a killed process comes back (same command line, data, ports, node id), the state
// file names the new pid, the cluster heals and runs a verified job, and SIGTERM stops the
// restarted processes too.
describe("tessera dev up --restart (processes SIGKILLed by hand come back)", () => {
  const data = mkdtempSync(join(tmpdir(), "tessera-cli-e2e-restart-"));
  let dev: ChildProcess | undefined;

  afterAll(async () => {
    await stopDevUp(dev);
    rmSync(data, { recursive: true, force: true });
  });

  it("restarts the killed consensus peer, scheduler and agent; the healed cluster runs a verified job", async () => {
    let info: DevClusterInfo;
    ({ dev, info } = await devUp(["--data", data, "--restart", "--peers", "1", "--agents", "1"]));
    const state = () =>
      JSON.parse(readFileSync(join(data, DEV_STATE_FILE), "utf8")) as DevClusterInfo;
    const killed = [info.peers[0]!.pid, info.scheduler.pid, info.agents[0]!.pid];
    for (const pid of killed) process.kill(pid, "SIGKILL");

    const deadline = Date.now() + 60_000;
    const current = () => {
      const s = state();
      return [s.peers[0]!.pid, s.scheduler.pid, s.agents[0]!.pid];
    };
    while (!current().every((pid, i) => pid !== killed[i] && alive(pid))) {
      if (Date.now() > deadline) throw new Error(`not restarted: ${JSON.stringify(state())}`);
      await sleep(200);
    }
    expect(await submitWaited(info.http)).toMatchObject({ status: "succeeded", verified: true });
    // The restarted agent is the same node, active again.
    const top = await run(process.execPath, [
      MAIN,
      "top",
      "--once",
      "--json",
      "--server",
      info.http,
    ]);
    expect(JSON.parse(top.stdout)).toMatchObject({
      cluster: { leader: 1 },
      nodes: [{ nodeId: "agent-1", state: "active" }],
    });

    const restarted = current();
    dev!.kill("SIGTERM");
    await new Promise((r) => dev!.once("exit", r));
    expect(restarted.filter(alive)).toEqual([]);
  });
});

// `--schedulers 2`: the scheduler is safe to run twice (fencing in the manifest, deduplicated work
// items), so with one of them SIGKILLed and nothing restarting it, the other still places work.
describe("tessera dev up --schedulers 2 (one scheduler SIGKILLed, the other carries on)", () => {
  const data = mkdtempSync(join(tmpdir(), "tessera-cli-e2e-schedulers-"));
  let dev: ChildProcess | undefined;

  afterAll(async () => {
    await stopDevUp(dev);
    rmSync(data, { recursive: true, force: true });
  });

  it("names both schedulers; a job submitted after the first was killed still verifies", async () => {
    let info: DevClusterInfo;
    ({ dev, info } = await devUp([
      "--data",
      data,
      "--peers",
      "1",
      "--agents",
      "1",
      "--schedulers",
      "2",
    ]));
    expect(info.schedulers.map((s) => s.id)).toEqual(["scheduler", "scheduler-2"]);
    expect(info.scheduler).toEqual({
      pid: info.schedulers[0]!.pid,
      http: info.schedulers[0]!.http,
    });
    expect(new Set(info.schedulers.map((s) => s.http)).size).toBe(2);
    expect(info.schedulers.every((s) => alive(s.pid))).toBe(true);
    process.kill(info.scheduler.pid, "SIGKILL");
    expect(await submitWaited(info.http)).toMatchObject({
      status: "succeeded",
      verified: true,
      attempts: 32,
    });
    expect(alive(info.scheduler.pid)).toBe(false);
  });
});

describe("tessera dev up --api-tls-cert/-key (the peers' API over HTTPS)", () => {
  const data = mkdtempSync(join(tmpdir(), "tessera-cli-e2e-https-"));
  let dev: ChildProcess | undefined;
  let pki: TestPki | undefined;
  // No ambient settings: what reaches the CLI below comes from `dev env` or the flags.
  const env = withoutApiSettings();

  afterAll(async () => {
    await stopDevUp(dev);
    await pki?.remove();
    rmSync(data, { recursive: true, force: true });
  });

  it("stops at once when nothing trusts the certificate, and runs a verified job with --api-ca", async () => {
    pki = await makeTestPki();
    const tls = ["--api-tls-cert", pki.serverCertFile, "--api-tls-key", pki.serverKeyFile];
    const small = ["--data", data, "--peers", "1", "--agents", "1"];
    // Waiting would not make the test CA trusted: exit 2 naming --api-ca, not a boot timeout.
    const refused = await run(process.execPath, [MAIN, "dev", "up", ...small, ...tls], {
      env,
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? "" }),
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/HTTPS certificate is not trusted \(--api-ca names/);

    let info: DevClusterInfo;
    ({ dev, info } = await devUp([...small, ...tls, "--api-ca", pki.caFile], env));
    expect(info.http).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(info.peers.map((p) => p.http)).toEqual([info.http]);
    // Every process serves its own endpoints over HTTPS too, with the same certificate.
    const ca = readFileSync(pki.caFile, "utf8");
    for (const url of [info.storageManager.http, info.scheduler.http, info.agents[0]!.http]) {
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect((await httpsGet(`${url}/healthz`, { ca })).status).toBe(200);
    }
    // `dev env` hands another shell the CA with the https:// peers.
    const exported = JSON.parse(
      (await run(process.execPath, [MAIN, "dev", "env", "--data", data, "--json"], { env })).stdout,
    ) as Record<string, string>;
    expect(exported).toMatchObject({ TESSERA_SERVER: info.http, TESSERA_API_CA: pki.caFile });
    const shell = { ...env, ...exported };
    const { stdout } = await run(process.execPath, [MAIN, ...submitArgs], {
      env: shell,
      timeout: 300_000,
    });
    const summary = JSON.parse(stdout.trim()) as { jobId: string };
    expect(summary).toMatchObject({ status: "succeeded", verified: true });
    // The storage-manager's outputs API, over HTTPS: what storage holds for the job.
    const outputs = await httpsGet(`${info.storageManager.http}/v1/jobs/${summary.jobId}/outputs`, {
      ca,
    });
    expect(outputs.status).toBe(200);
    expect((JSON.parse(outputs.body) as { stored: unknown[] }).stored.length).toBeGreaterThan(0);
    // Without the CA the same command names what is missing.
    const { TESSERA_API_CA: _, ...noCa } = shell;
    const untrusted = await run(process.execPath, [MAIN, "job", "list", "--json"], {
      env: noCa,
    }).then(
      () => "",
      (err: { stdout?: string }) => err.stdout ?? "",
    );
    expect(untrusted).toMatch(/certificate is not trusted \(--api-ca names/);
  });
});

describe("tessera dev up --secure (every link secured, secrets made on the spot)", () => {
  const data = mkdtempSync(join(tmpdir(), "tessera-cli-e2e-secure-"));
  let dev: ChildProcess | undefined;
  // No ambient settings: --secure makes its own, and refuses to mix them with given ones.
  const env = withoutApiSettings();

  afterAll(async () => {
    await stopDevUp(dev);
    rmSync(data, { recursive: true, force: true });
  });

  it("runs a verified job over TLS everywhere, and hands another shell what it needs", async () => {
    const refused = await run(
      process.execPath,
      [MAIN, "dev", "up", "--secure", "--api-ca", "/nonexistent", "--data", data],
      { env, timeout: 30_000 },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr ?? "" }),
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--secure: .*does not take --api-ca/);

    let info: DevClusterInfo;
    ({ dev, info } = await devUp(
      ["--data", data, "--peers", "1", "--agents", "1", "--secure"],
      env,
    ));
    for (const url of [
      info.http,
      info.storageManager.http,
      info.scheduler.http,
      info.agents[0]!.http,
    ]) {
      expect(url).toMatch(/^https:\/\//);
    }
    const exported = JSON.parse(
      (await run(process.execPath, [MAIN, "dev", "env", "--data", data, "--json"], { env })).stdout,
    ) as Record<string, string>;
    const secrets = join(data, "secrets");
    expect(exported).toMatchObject({
      TESSERA_NATS_USER: "tessera",
      TESSERA_NATS_TLS_CERT: join(secrets, "tls.crt"),
      TESSERA_API_TOKEN_FILE: join(secrets, "api-token"),
      TESSERA_API_CA: join(secrets, "ca.crt"),
    });
    const { stdout } = await run(process.execPath, [MAIN, ...submitArgs], {
      env: { ...env, ...exported },
      timeout: 300_000,
    });
    expect(JSON.parse(stdout.trim())).toMatchObject({ status: "succeeded", verified: true });

    // The API answers only the token, over a certificate of the cluster's CA.
    const ca = readFileSync(join(secrets, "ca.crt"), "utf8");
    expect((await httpsGet(`${info.http}/v1/cluster`, { ca })).status).toBe(401);
    const token = readFileSync(join(secrets, "api-token"), "utf8").trim();
    const authorized = { ca, headers: { authorization: `Bearer ${token}` } };
    expect((await httpsGet(`${info.http}/v1/cluster`, authorized)).status).toBe(200);
    // NATS takes no client without the certificate and the password.
    const { connect } = await import("@tessera/messaging");
    const plain = await connect({
      servers: info.nats,
      name: "plain",
      connectTimeoutMs: 3_000,
    }).then(
      async (nc) => {
        await nc.close();
        return "connected";
      },
      (err: Error) => err.message,
    );
    expect(plain).not.toBe("connected");
  });
});
