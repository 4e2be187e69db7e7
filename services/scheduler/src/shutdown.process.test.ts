// A scheduler stopped while it rebuilds its view from consensus peers that are gone (an
// uninstall deletes every pod at once) exits promptly: its SIGTERM does not wait out the reads'
// 15 s retry window. Found by the Helm chart's stand-in uninstall: one scheduler took 15.8 s.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePorts, type NatsServer, startNatsServer, waitFor } from "@tessera/harness";
import { ConsensusCluster } from "@tessera/test-consensus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const SCHEDULER_MAIN = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "main.js");

let nats: NatsServer;
let cluster: ConsensusCluster;
let scheduler: ChildProcess | undefined;
const output: string[] = [];

beforeAll(async () => {
  if (!existsSync(SCHEDULER_MAIN))
    throw new Error(`${SCHEDULER_MAIN} is missing: run \`pnpm turbo run build\` first`);
  nats = await startNatsServer({ mode: "process" });
  cluster = await ConsensusCluster.start({ size: 1, name: "scheduler-shutdown", nats });
}, 120_000);

afterAll(async () => {
  if (scheduler?.exitCode === null) scheduler.kill("SIGKILL");
  await cluster?.stop();
  await nats?.stop();
}, 60_000);

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(2_000),
  });
  return { status: res.status, text: await res.text() };
}

describe("scheduler shutdown", () => {
  it("exits within seconds when SIGTERMed while rebuilding its view from peers that are gone", async () => {
    const port = (await freePorts(1))[0] as number;
    const grpc = cluster.peers.map((p) => p.grpcAddress).join(",");
    scheduler = spawn(
      process.execPath,
      [
        SCHEDULER_MAIN,
        ...["--consensus", grpc, "--nats", nats.url, "--id", "sched-shutdown"],
        ...["--http", `127.0.0.1:${port}`, "--log-level", "info"],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    scheduler.stdout?.on("data", (d: Buffer) => output.push(d.toString()));
    scheduler.stderr?.on("data", (d: Buffer) => output.push(d.toString()));
    const exited = new Promise<number | null>((r) => scheduler?.once("exit", (code) => r(code)));
    const log = () => output.join("").slice(-4000);

    await waitFor(
      "the scheduler to be ready",
      async () => (await get(port, "/readyz")).status === 200,
      30_000,
    );
    // The peers go; then NATS comes back from a restart, so the scheduler rebuilds its view
    // (as after any reconnect) from peers that no longer answer.
    await cluster.kill(cluster.peers[0]?.id as number);
    await nats.kill();
    await nats.restart();
    // Counted as the rebuild starts (before its first read).
    await waitFor(
      "a view rebuild after the reconnect",
      async () =>
        /scheduler_rebuilds_total\{[^}]*reason="reconnect"[^}]*\} [1-9]/.test(
          (await get(port, "/metrics")).text,
        ),
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${log()}`);
    });

    const t0 = Date.now();
    scheduler.kill("SIGTERM");
    const code = await exited;
    const seconds = (Date.now() - t0) / 1000;
    // Without the fix: 15 s (the read's retry window). The bound leaves a slow machine room.
    expect({ code, underEightSeconds: seconds < 8 }, log()).toEqual({
      code: 0,
      underEightSeconds: true,
    });
  }, 90_000);
});
