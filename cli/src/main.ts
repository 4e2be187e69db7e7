#!/usr/bin/env node
// `tessera`: the operator's command. Every command takes --server URL (any consensus peer; writes
// follow the leader redirect) and --json (exactly one JSON object on stdout). Failures print a
// clear message and exit non-zero (2 for bad arguments).
import { Command, CommanderError, Option } from "commander";
import { EXPORT_FORMATS } from "./args.js";
import { CliError } from "./client.js";
import { endOnClosedStdout } from "./closed-stdout.js";
import {
  clusterAddPeer,
  clusterRemovePeer,
  clusterStatus,
  clusterTransfer,
  devEnv,
  devUp,
  jobControl,
  jobDelete,
  jobExport,
  jobList,
  jobProfile,
  jobStatus,
  jobSubmit,
  logs,
  nodeDrain,
  nodeList,
  nodePromote,
  stop,
  topCommand,
  verify,
} from "./commands.js";
import { apiTlsOptions, clusterTlsOptions, natsSecurityOptions } from "./security-options.js";

interface Common {
  server?: string;
  json?: boolean;
}

function common(cmd: Command): Command {
  return cmd
    .option(
      "--server <url>",
      "consensus peer HTTP URL(s), comma-separated (default: $TESSERA_SERVER, the running dev cluster, http://127.0.0.1:8001)",
    )
    .option("--json", "print exactly one JSON object")
    .option(
      "--api-token-file <file>",
      "bearer token of the consensus HTTP API, for peers started with --api-token-file (default: $TESSERA_API_TOKEN_FILE)",
    )
    .option(
      "--api-ca <file>",
      "PEM CA that signed the peers' HTTPS certificate, for peers started with --api-tls-cert (default: $TESSERA_API_CA; else the system's roots)",
    );
}

/** Wraps an action: prints errors (as one JSON object with --json) and sets the exit code. */
function run<A extends unknown[]>(
  fn: (...args: A) => Promise<unknown>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.optsWithGlobals() as Common;
    try {
      const result = await fn(...args);
      if (opts.json && result !== undefined) process.stdout.write(`${JSON.stringify(result)}\n`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const exitCode = err instanceof CliError ? err.exitCode : 1;
      if (opts.json) process.stdout.write(`${JSON.stringify({ error: { message } })}\n`);
      process.stderr.write(`tessera: ${message}\n`);
      process.exitCode = exitCode;
    }
  };
}

function program(): Command {
  const p = new Command("tessera")
    .description("Tessera: fault-tolerant, verified distributed matrix multiplication")
    .exitOverride()
    .showHelpAfterError();

  const dev = p.command("dev").description("local development cluster");
  common(
    apiTlsOptions(
      clusterTlsOptions(
        natsSecurityOptions(
          dev
            .command("up")
            .description(
              "run nats-server, consensus peers, scheduler, storage-manager and agents as local processes until SIGTERM/SIGINT",
            )
            .option("--peers <n>", "consensus peers", "3")
            .option("--agents <n>", "agents", "2")
            .option(
              "--schedulers <n>",
              "scheduler instances, 1..4 (two are safe: one keeps placing work while the other restarts)",
              "1",
            )
            .option("--storage <kind>", "fs | s3 | gcs", "fs")
            .option("--data <dir>", "data directory (default: <tmp>/tessera-dev, wiped at start)")
            .option(
              "--nats <url>",
              "use this NATS instead of starting nats-server (with --nats-… for its credentials and TLS)",
            )
            .option(
              "--secure",
              "every link secured with secrets made in <data>/secrets (openssl): NATS TLS with client certificates and a password, mutual TLS between the peers, HTTPS on every port, the API token; `tessera dev env` exports them",
            )
            .option(
              "--restart",
              "start a process again when it exits while the cluster runs (after 100 ms, doubling to 30 s while it keeps dying young, as Docker does), like compose's restart: unless-stopped",
            )
            .addOption(
              new Option("--agent-ep <ep>", "agent execution provider")
                .choices(["auto", "cpu", "cuda"])
                .default("auto"),
            ),
        ),
      ),
    ),
  ).action(run(devUp));
  common(
    dev
      .command("env")
      .description(
        'print `export` lines that point tessera (and S3 clients) at a running dev cluster: eval "$(tessera dev env)"',
      )
      .option("--data <dir>", "its data directory (default: <tmp>/tessera-dev)"),
  ).action(run(devEnv));

  const job = p.command("job").description("submit and control jobs");
  common(
    job
      .command("submit")
      .argument("<kind>", "job kind (matmul)")
      .description("submit a job")
      .option("--n <n>", "matrix size (n×n)")
      .option("--tile <t>", "tile size, a power of two dividing n (default min(1024, n))")
      .option(
        "--mode <mode>",
        "exact | float | empty (the task graph without the work: control-plane load, nothing to verify)",
        "exact",
      )
      .option("--seed <s>", "input seed (uint32)", "1")
      .option(
        "--k-per-map <d>",
        "inner tiles each map sums before writing its partial (a combiner; must divide n/tile); auto: the largest with kPerMap·tile² ≤ 2^24",
        "auto",
      )
      .option("--job-id <id>", "job id (default: assigned by the manifest)")
      .option(
        "--max-attempts <k>",
        "attempts each task may use (retried with backoff) before the job fails, 1..255 (default 4)",
      )
      .option("--wait", "wait for the job to finish (progress bar on a terminal)")
      .option("--storage <spec>", "storage to verify from when the manifest has no verdict"),
  ).action(run(jobSubmit));
  common(
    job
      .command("list")
      .description("list jobs")
      .option("--finished <n>", "only the n latest finished jobs after the unfinished ones"),
  ).action(run(jobList));
  common(
    job
      .command("status")
      .argument("<id>")
      .description("show a job")
      .option("--task <id>", "show one task instead: m-<i>-<j>-<k> or r-<i>-<j>")
      .option(
        "--live",
        "list the job's live attempts instead: task, attempt, running time, node once bound",
      )
      .option(
        "--wait",
        "wait until the job finishes (progress bar on a terminal), then print the same summary as job submit --wait; exit 1 unless it succeeded verified",
      )
      .option(
        "--storage <spec>",
        "with --wait: storage to verify from when the manifest has no verdict",
      ),
  ).action(run(jobStatus));
  common(
    natsSecurityOptions(
      job
        .command("profile")
        .argument("<id>")
        .description(
          "where the job's time went (agents' read/compute/write, idle time, verification) and its bottleneck",
        )
        .option(
          "--nats <url>",
          "NATS URL(s) for the agents' shipped timings (default: $TESSERA_NATS_URL, the running dev cluster's, nats://127.0.0.1:4222)",
        )
        .option(
          "--timeline",
          "also every work item on the job's clock (node, task, attempt, start, end, read/compute/write ms; JSON: timeline[])",
        ),
    ),
  ).action(run(jobProfile));
  common(
    job
      .command("export")
      .argument("<id>")
      .description(
        "write a succeeded job's result C to one file (NumPy .npy or raw row-major float32), every tile checked and the digest matched against the manifest's",
      )
      .option("--out <file>", "the file to write (required), e.g. C.npy")
      .addOption(
        new Option("--format <format>", "file format").choices(EXPORT_FORMATS).default("npy"),
      )
      .option("--force", "replace --out if it exists")
      .option(
        "--storage <spec>",
        "fs:<dir> | s3:<bucket> | gcs:<bucket> (default: $TESSERA_STORAGE, where the manifest says the job's outputs are, the dev cluster's)",
      ),
  ).action(run(jobExport));
  const controls = {
    pause: "pause a job: no new attempts start; running ones finish",
    resume: "resume a paused job",
    cancel: "cancel a job: its attempts are released, its partials cleaned",
  } as const;
  for (const [action, description] of Object.entries(controls) as [
    keyof typeof controls,
    string,
  ][]) {
    common(job.command(action).argument("<id>").description(description)).action(
      run((id: string, opts: Common, cmd: Command) => jobControl(action, id, opts, cmd)),
    );
  }

  common(
    job
      .command("delete")
      .argument("[id]", "the job (or --finished-before)")
      .description(
        "remove a finished job from the manifest for good (its id is never reused); the storage-manager deletes its stored outputs and partials",
      )
      .option(
        "--finished-before <age>",
        "every finished job that finished this long ago (30s, 10m, 2h, 7d) or before this ISO time",
      )
      .option("--dry-run", "with --finished-before: only list what would be deleted"),
  ).action(run(jobDelete));

  const node = p.command("node").description("agent nodes");
  common(node.command("list").description("list nodes")).action(run(nodeList));
  common(
    node
      .command("drain")
      .argument("<id>")
      .option("--undo", "make the node available again")
      .option(
        "--reason <text>",
        "why (kept with the node until it is undrained; needs cluster feature level 2)",
      )
      .description("stop placing work on a node"),
  ).action(run(nodeDrain));
  common(
    natsSecurityOptions(
      node
        .command("promote")
        .argument("<id>")
        .option(
          "--nats <url>",
          "NATS the agent is connected to (default: $TESSERA_NATS_URL or the dev cluster's)",
        )
        .description("ask a warm-standby agent to start pulling work (over NATS)"),
    ),
  ).action(run(nodePromote));

  const cluster = p.command("cluster").description("consensus cluster");
  common(cluster.command("status").description("leader, term, peers")).action(run(clusterStatus));
  common(
    cluster
      .command("transfer")
      .description("hand leadership to another peer (default: the best caught-up follower)")
      .option("--to <id>", "the peer to lead"),
  ).action(run(clusterTransfer));
  common(
    cluster
      .command("add-peer")
      .argument("<id>", "the new peer's id")
      .description(
        "add a consensus peer started with --join: learner, caught up, then voter (returns once it votes)",
      )
      .option("--grpc <host:port>", "its gRPC address (required)")
      .option("--http <url>", "its HTTP API, for redirects and the CLI"),
  ).action(run(clusterAddPeer));
  common(
    cluster
      .command("remove-peer")
      .argument("<id>")
      .description("remove a consensus peer from the cluster (stop its process afterwards)"),
  ).action(run(clusterRemovePeer));

  common(
    p
      .command("verify")
      .argument("<job>")
      .description("Freivalds verification of a job's output tiles plus the checksum digest")
      .option(
        "--storage <spec>",
        "fs:<dir> | s3:<bucket> | gcs:<bucket> (default: $TESSERA_STORAGE, where the manifest says the job's outputs are, the dev cluster's)",
      )
      .option("--rounds <n>", "Freivalds rounds", "2"),
  ).action(run(verify));

  common(
    natsSecurityOptions(
      p
        .command("logs")
        .description(
          "search the centralized logs (TESSERA_LOGS): every service's lines by job, task, node, level, text",
        )
        .option(
          "--nats <url>",
          "NATS URL(s) (default: $TESSERA_NATS_URL, the running dev cluster's, nats://127.0.0.1:4222)",
        )
        .option("--service <name>", "consensus | scheduler | storage-manager | agent")
        .option(
          "--level <level>",
          "this level and above: trace|debug|info|warn|error|fatal",
          "info",
        )
        .option("--job <id>", "lines about this job")
        .option("--task <id>", "lines about this task (e.g. m-0-1-2, r-0-1)")
        .option("--node <id>", "lines from (or about) this node")
        .option("--grep <text>", "lines containing this text (case-insensitive)")
        .option("--since <when>", "duration (30s, 10m, 2h, 1d) or ISO time", "1h")
        .option("--limit <n>", "print the last N matching lines", "200")
        .option(
          "--follow",
          "keep printing new lines until Ctrl-C (with --json: one object per line)",
        ),
    ),
  ).action(run(logs));

  common(
    p
      .command("top")
      .description(
        "live dashboard: leader and peers, nodes, jobs with progress, tasks/s and GFLOP/s, events (leader changes and the time without one, failed nodes, finished jobs)",
      )
      .option("--interval <seconds>", "seconds between polls, 0.1..3600 (default 1)")
      .option("--finished <n>", "finished jobs shown after the unfinished ones (default 5)")
      .option("--once", "print one frame and exit (with --json: one JSON object)")
      .addHelpText(
        "after",
        "\nOn a terminal the frame is redrawn in place until Ctrl-C; otherwise (or with --json, one\nobject per line) a frame per poll is appended. Rates are measured between two polls.",
      ),
  ).action(run(topCommand));

  common(
    p
      .command("stop")
      .description("emergency stop (--emergency), or stop the running dev cluster")
      .option("--emergency", "engage the manifest's emergency stop: no new attempts anywhere")
      .option("--release", "with --emergency: disengage it")
      .option("--data <dir>", "the dev cluster's data directory (default: <tmp>/tessera-dev)"),
  ).action(run(stop));
  return p;
}

async function main(): Promise<void> {
  endOnClosedStdout();
  try {
    await program().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors (already printed by commander) exit 2.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`tessera: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

void main();
