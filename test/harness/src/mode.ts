import { spawnSync } from "node:child_process";
import { dockerHasImage, dockerReachable } from "./docker-detect.js";
import { HarnessError } from "./errors.js";
import { NATS_IMAGE } from "./nats-containers.js";
import { natsServerBinary } from "./nats-process.js";
import type { HarnessMode } from "./types.js";

/**
 * Explicit option, else env TESSERA_HARNESS, else containers iff a Docker engine answers and
 * either holds the NATS image or there is no nats-server to run instead: an engine that has not
 * pulled the image may be unable to (no registry reachable), and every suite would then fail.
 */
export async function resolveMode(explicit?: HarnessMode): Promise<HarnessMode> {
  if (explicit) return explicit;
  const env = process.env.TESSERA_HARNESS;
  if (env === "process" || env === "containers") return env;
  if (env) {
    throw new HarnessError(
      "TESSERA_E_HARNESS_MODE",
      `TESSERA_HARNESS=${JSON.stringify(env)}: must be "process" or "containers"`,
    );
  }
  autoMode ??= decideAutoMode();
  return autoMode;
}

/** Decided once per process, as dockerReachable() is: every server a suite starts asks. */
let autoMode: Promise<HarnessMode> | undefined;

async function decideAutoMode(): Promise<HarnessMode> {
  if (!(await dockerReachable())) return "process";
  if (await dockerHasImage(NATS_IMAGE)) return "containers";
  return natsServerRuns() ? "process" : "containers";
}

function natsServerRuns(): boolean {
  return spawnSync(natsServerBinary(), ["--version"], { stdio: "ignore" }).status === 0;
}
