#!/usr/bin/env node
// Installs the workspace from the lockfile when node_modules is missing or older than the
// lockfile, so `npm test` and `npm start` work on a fresh clone with nothing but Node.
// pnpm comes from the PATH, else from the npm registry through npx (pinned to packageManager).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lockfile = join(root, "pnpm-lock.yaml");
const marker = join(root, "node_modules", ".modules.yaml");

function upToDate() {
  if (!existsSync(marker)) return false;
  return statSync(marker).mtimeMs >= statSync(lockfile).mtimeMs;
}

function pnpmCommand() {
  const probe = spawnSync("pnpm", ["--version"], { stdio: "ignore" });
  if (probe.status === 0) return ["pnpm", []];
  const { packageManager } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  return ["npx", ["--yes", packageManager]];
}

if (!upToDate()) {
  const [cmd, prefix] = pnpmCommand();
  console.error(
    `tessera: installing dependencies from the lockfile (${cmd} ${prefix.join(" ")} install --frozen-lockfile)`,
  );
  // The CUDA download in onnxruntime-node's installer fails offline; CPU ships in the package.
  const env = {
    ...process.env,
    ONNXRUNTIME_NODE_INSTALL: "skip",
    ONNXRUNTIME_NODE_INSTALL_CUDA: "skip",
  };
  execFileSync(cmd, [...prefix, "install", "--frozen-lockfile"], {
    cwd: root,
    stdio: "inherit",
    env,
  });
}
