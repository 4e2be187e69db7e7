#!/usr/bin/env node
// `pnpm bench <name> [flags]`: runs bench/dist/<name>.js, which prints one JSON object as its
// last stdout line. Builds first so a benchmark never measures stale code.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [name, ...flags] = process.argv.slice(2);
const available = () =>
  readdirSync(join(root, "bench", "src"))
    .filter(
      (f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && f !== "index.ts" && !f.startsWith("_"),
    )
    .map((f) => f.slice(0, -3))
    .sort();

if (!name || name === "--help" || name === "-h") {
  console.error(`usage: pnpm bench <name> [flags]\nbenchmarks: ${available().join(", ")}`);
  process.exit(name ? 0 : 2);
}
if (!available().includes(name)) {
  console.error(`pnpm bench: unknown benchmark "${name}"; available: ${available().join(", ")}`);
  process.exit(2);
}
const build = spawnSync(
  "pnpm",
  ["turbo", "run", "build", "--filter=@tessera/bench...", "--output-logs=errors-only"],
  {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  },
);
if (build.status !== 0) process.exit(build.status ?? 1);
const script = join(root, "bench", "dist", `${name}.js`);
if (!existsSync(script)) {
  console.error(`pnpm bench: ${script} was not built`);
  process.exit(1);
}
const run = spawnSync(process.execPath, [script, ...flags], { cwd: root, stdio: "inherit" });
process.exit(run.status ?? 1);
