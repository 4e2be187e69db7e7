#!/usr/bin/env node
/** Entry point of `pnpm sim` (node libs/raft-sim/dist/cli.js); see cli/main.ts. */
import { fileURLToPath } from "node:url";
import { runCli } from "./cli/main.js";

// `pnpm sim ... | head` closes the pipe early; that is not an error worth a stack trace.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
});
const code = await runCli(
  process.argv.slice(2),
  { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) },
  { cliPath: fileURLToPath(import.meta.url) },
);
process.exitCode = code;
