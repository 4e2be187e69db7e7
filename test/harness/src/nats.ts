import { HarnessError } from "./errors.js";
import { resolveMode } from "./mode.js";
import { startContainerCluster, startContainerServer } from "./nats-containers.js";
import { startLocalCluster, startLocalServer } from "./nats-local.js";
import type {
  NatsCluster,
  NatsServer,
  StartNatsClusterOptions,
  StartNatsServerOptions,
} from "./types.js";

const DEFAULT_READY_MS = 20_000;
const DEFAULT_CLUSTER_READY_MS = 30_000;

/**
 * One JetStream-enabled nats-server on free ports with a temp store dir, ready to accept
 * clients when the promise resolves. Call `stop()` in afterAll; a forgotten server is still
 * SIGKILLed when the test process exits.
 */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  const timeout = options.readyTimeoutMs ?? DEFAULT_READY_MS;
  if (options.security) {
    // Its config names certificate files on this host: a container would not see them.
    if (options.mode === "containers") {
      throw new HarnessError(
        "TESSERA_E_HARNESS_MODE",
        "a secured nats-server (security) runs as a local process only",
      );
    }
    return startLocalServer(timeout, options.jetstream ?? true, options.security);
  }
  const mode = await resolveMode(options.mode);
  return mode === "containers"
    ? startContainerServer(timeout, options.jetstream ?? true)
    : startLocalServer(timeout, options.jetstream ?? true);
}

/**
 * A JetStream cluster (default 3 members, routes between all) that has elected a meta leader
 * when the promise resolves. `servers[i].kill()` SIGKILLs one member, `restart()` brings it
 * back on the same ports and store dir.
 */
export async function startNatsCluster(
  options: StartNatsClusterOptions = {},
): Promise<NatsCluster> {
  const mode = await resolveMode(options.mode);
  const size = options.size ?? 3;
  const timeout = options.readyTimeoutMs ?? DEFAULT_CLUSTER_READY_MS;
  return mode === "containers"
    ? startContainerCluster(size, timeout)
    : startLocalCluster(size, timeout);
}
