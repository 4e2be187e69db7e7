#!/usr/bin/env node
// `npm start` (after install + build): the demo. Starts a local Tessera cluster (the same code as
// `tessera dev up`: nats-server from the PATH, 3 consensus peers, the scheduler, the
// storage-manager, 2 agents), submits a verified exact-mode matrix multiplication (N = 4096,
// tile 1024), shows the progress bar, prints the summary (verified + digest) and shuts the
// cluster down. Exit 0 only when the job succeeded AND its result verified. With --out FILE the
// verified result C is also written there as a NumPy .npy (`tessera job export`).
//   node scripts/start.mjs [--n N] [--tile T] [--seed S] [--k-per-map auto|D] [--agents A] [--peers P] [--data DIR] [--out C.npy]
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";

const USAGE =
  "usage: node scripts/start.mjs [--n 4096] [--tile 1024] [--seed 1] [--k-per-map auto] [--agents 2] [--peers 3] [--data DIR] [--out C.npy]";

function fail(message, code = 1) {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(code);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      n: { type: "string", default: "4096" },
      tile: { type: "string", default: "1024" },
      seed: { type: "string", default: "1" },
      "k-per-map": { type: "string", default: "auto" },
      agents: { type: "string", default: "2" },
      peers: { type: "string", default: "3" },
      data: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean" },
    },
  }));
} catch (err) {
  fail(`${err.message}\n${USAGE}`, 2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

let cli;
try {
  cli = await import("../cli/dist/index.js");
} catch (err) {
  fail(`the CLI is not built (${err.message}); run \`pnpm turbo run build\` first`);
}
const { ClusterClient, DevCluster, exportJobResult, parseDevUpArgs, parseMatmulArgs, waitForJob } =
  cli;
// Refused before the job runs rather than after it (export never replaces a file).
const out = values.out === undefined ? undefined : resolve(values.out);
if (out !== undefined && existsSync(out))
  fail(`--out: ${out} exists; remove it or pick another`, 2);

let spec;
let devArgs;
try {
  spec = parseMatmulArgs({
    n: values.n,
    tile: values.tile,
    mode: "exact",
    seed: values.seed,
    kPerMap: values["k-per-map"],
  });
  devArgs = parseDevUpArgs({
    peers: values.peers,
    agents: values.agents,
    storage: "fs",
    data: values.data,
  });
} catch (err) {
  fail(err.message, 2);
}

const status = (line) => process.stderr.write(`tessera: ${line}\n`);
let cluster;
let interrupted = false;
const onSignal = (signal) => {
  interrupted = true;
  status(`${signal}: stopping the cluster`);
  (cluster ? cluster.stop() : Promise.resolve()).finally(() => process.exit(130));
};
process.once("SIGINT", () => onSignal("SIGINT"));
process.once("SIGTERM", () => onSignal("SIGTERM"));

let exitCode = 1;
try {
  status(
    `starting a local cluster: ${devArgs.peers} consensus peers, scheduler, storage-manager, ${devArgs.agents} agents`,
  );
  cluster = await DevCluster.start({ ...devArgs, onStatus: status });
  const info = cluster.info;
  status(`cluster ready (data ${info.dataDir}; logs in ${info.dataDir}/logs)`);
  const client = new ClusterClient(info.peers.map((p) => p.http));
  const started = Date.now();
  const reply = await client.post("/v1/jobs", { spec });
  const jobId = reply?.result?.jobId;
  if (typeof jobId !== "string") throw new Error("the cluster accepted the job but named no jobId");
  status(
    `submitted ${jobId}: C = A·B, n=${spec.n}, tile=${spec.tile}, exact mode, seed ${spec.seed}, ${spec.kPerMap ?? 1} inner tiles per map`,
  );
  const summary = await waitForJob(client, jobId, started, {
    bar: process.stderr.isTTY === true,
    storage: cluster.storageSpec,
    log: status,
  });
  console.log(
    [
      "",
      `job        ${summary.jobId}: ${summary.status}`,
      `verified   ${summary.verified}   (Freivalds, exact mode, every output tile; CRC32C on every read)`,
      `digest     ${summary.digest}`,
      `wall       ${summary.wallSeconds.toFixed(2)} s   ${summary.gflops} GFLOP/s`,
      `tasks      ${summary.tasks} (${summary.attempts} attempts)   bytes moved ${summary.bytesMoved}`,
      ...(summary.reason ? [`reason     ${summary.reason}`] : []),
      JSON.stringify(summary),
    ].join("\n"),
  );
  if (summary.status !== "succeeded") {
    status(`the job did not succeed (${summary.status}): ${summary.reason ?? "see the logs"}`);
  } else if (summary.verified !== true) {
    status(`the job's result did not verify: ${summary.reason ?? "no verdict"}`);
  } else {
    if (out !== undefined) {
      const storage = { spec: cluster.storageSpec, env: process.env };
      const r = await exportJobResult(jobId, spec, storage, summary.digest, {
        out,
        format: "npy",
        force: false,
      });
      console.log(
        `result     ${r.out} (float32 ${r.shape.join("×")}, ${r.bytes} bytes; numpy.load)`,
      );
    }
    exitCode = 0;
  }
} catch (err) {
  status(`failed: ${err.message}`);
} finally {
  if (cluster && !interrupted) {
    status("stopping the cluster");
    await cluster.stop();
    status("cluster stopped");
  }
}
process.exit(exitCode);
