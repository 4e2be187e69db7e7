import { existsSync } from "node:fs";
import { request } from "node:http";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * Is a Docker engine answering? Cheap by design: with no DOCKER_HOST and no socket file it
 * returns at once, otherwise one `GET /_ping` with a short timeout. The answer is cached
 * for the process, so a suite without Docker never pays for the check twice.
 */

type Target = { socketPath: string } | { host: string; port: number };

function target(): Target | undefined {
  const dockerHost = process.env.DOCKER_HOST;
  if (dockerHost) {
    if (dockerHost.startsWith("unix://")) return { socketPath: dockerHost.slice("unix://".length) };
    const url = new URL(dockerHost.replace(/^tcp:/, "http:"));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  const candidates = [
    "/var/run/docker.sock",
    process.env.XDG_RUNTIME_DIR ? join(process.env.XDG_RUNTIME_DIR, "docker.sock") : "",
    join(homedir(), ".docker/run/docker.sock"),
  ];
  const socketPath = candidates.find((p) => p && existsSync(p));
  return socketPath ? { socketPath } : undefined;
}

/** Does the engine answer GET `path` with 200? false on any error or after `timeoutMs`. */
function answersOk(t: Target, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ ...t, path, method: "GET", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.once("error", () => resolve(false));
    req.end();
  });
}

let cached: Promise<boolean> | undefined;

export function dockerReachable(timeoutMs = 300): Promise<boolean> {
  if (!cached) {
    const t = target();
    cached = t ? answersOk(t, "/_ping", timeoutMs) : Promise.resolve(false);
  }
  return cached;
}

/**
 * Does a reachable engine already hold `image` (e.g. "nats:2.10")? An engine without it may be
 * unable to pull it (no registry reachable), which would fail every suite that needs it.
 */
export async function dockerHasImage(image: string, timeoutMs = 1_000): Promise<boolean> {
  const t = target();
  if (!t || !(await dockerReachable())) return false;
  return answersOk(t, `/images/${image}/json`, timeoutMs);
}
