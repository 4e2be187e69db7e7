import { dockerReachable } from "./docker-detect.js";
import { HarnessError } from "./errors.js";
import type { HarnessMode } from "./types.js";

/** Explicit option, else env TESSERA_HARNESS, else containers iff a Docker engine answers. */
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
  return (await dockerReachable()) ? "containers" : "process";
}
