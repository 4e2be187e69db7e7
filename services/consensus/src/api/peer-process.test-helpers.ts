// A consensus peer as a real process (dist/main.js) for the process-level suites: its output
// kept for failure messages, SIGKILLed by the harness's cleanup if a test leaves it running.
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { registerCleanup } from "@tessera/harness";

export const PEER_MAIN = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "dist",
  "main.js",
);

export interface PeerProcess {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

export function spawnPeer(args: readonly string[]): PeerProcess {
  const proc = spawn(process.execPath, [PEER_MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const unregister = registerCleanup(() => proc.kill("SIGKILL"));
  const chunks: string[] = [];
  proc.stdout?.on("data", (b: Buffer) => chunks.push(b.toString()));
  proc.stderr?.on("data", (b: Buffer) => chunks.push(b.toString()));
  const exited = new Promise<number | null>((resolve) =>
    proc.on("exit", (code) => {
      unregister();
      resolve(code);
    }),
  );
  return { proc, exited, output: () => chunks.join("") };
}

/** GET (or POST `body` to) url as JSON; {} when nothing (or no JSON) answers. */
export async function getJsonOrEmpty(
  url: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  try {
    const res = await fetch(
      url,
      body === undefined
        ? {}
        : {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
          },
    );
    return (await res.json()) as Record<string, unknown>;
  } catch {
    return {};
  }
}
