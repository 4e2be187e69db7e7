// The Compose CLI for the deployment-file tests: `config` checks a Compose file's schema and
// merges overlays without any Docker engine. `.ci/run` installs docker-compose when neither
// `docker compose` nor `docker-compose` is present, so in CI the checks never skip.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");

export const composeCli = ((): string[] | undefined => {
  for (const cmd of [["docker", "compose"], ["docker-compose"]]) {
    const r = spawnSync(cmd[0] ?? "", [...cmd.slice(1), "version"], { encoding: "utf8" });
    if (r.status === 0) return cmd;
  }
  return undefined;
})();

/** Runs the Compose CLI in the repo root; `input` is piped to stdin (for `-f -`). */
export function runCompose(
  args: readonly string[],
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const [cmd = "", ...pre] = composeCli ?? [];
  const r = spawnSync(cmd, [...pre, "--project-directory", ROOT, ...args], {
    input,
    encoding: "utf8",
    timeout: 60_000,
  });
  return {
    status: r.status,
    stdout: r.stdout ?? "",
    stderr: `${r.stderr ?? ""}${r.error?.message ?? ""}`,
  };
}
