import { HarnessError } from "./errors.js";
import { waitForAgreedLeader } from "./nats-local.js";
import { freePorts } from "./ports.js";
import type { NatsCluster, NatsNode, NatsServer } from "./types.js";
import { canConnect, isHealthy, metaLeader, waitFor } from "./wait.js";

/**
 * Containers mode: the same API backed by testcontainers (image nats:2.10). testcontainers is
 * imported lazily so process mode never loads it. Host ports are fixed at creation, so a
 * killed container restarts on the same ports; its JetStream store lives in the container's
 * writable layer (/data), which survives kill + start.
 */

export const NATS_IMAGE = process.env.TESSERA_NATS_IMAGE || "nats:2.10";
const STORE = "/data";

type Testcontainers = typeof import("testcontainers");
type Started = Awaited<ReturnType<InstanceType<Testcontainers["GenericContainer"]>["start"]>>;

interface KillableContainer {
  kill(opts: { signal: string }): Promise<unknown>;
  start(): Promise<unknown>;
  wait(): Promise<unknown>;
}

class ContainerNatsNode implements NatsNode {
  readonly storeDir = STORE;
  running = true;
  constructor(
    private readonly tc: Testcontainers,
    readonly name: string,
    private readonly container: Started,
    readonly port: number,
    readonly monitorPort: number,
    private readonly clustered: boolean,
    private readonly readyTimeoutMs: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  private async raw(): Promise<KillableContainer> {
    const client = await this.tc.getContainerRuntimeClient();
    return client.container.getById(this.container.getId()) as unknown as KillableContainer;
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    const c = await this.raw();
    await c.kill({ signal: "SIGKILL" });
    await c.wait();
    this.running = false;
  }

  async shutdown(): Promise<void> {
    if (!this.running) return;
    await this.container.stop({ remove: false, timeout: 5_000 });
    this.running = false;
  }

  async restart(): Promise<void> {
    if (this.running) await this.kill();
    await (await this.raw()).start();
    this.running = true;
    await waitFor(
      `${this.name} to accept clients`,
      () => canConnect(this.port),
      this.readyTimeoutMs,
    );
    await waitFor(
      `${this.name} to be ready`,
      async () =>
        this.clustered ? (await metaLeader(this.monitorPort)) !== "" : isHealthy(this.monitorPort),
      this.readyTimeoutMs,
      100,
    );
  }

  async remove(): Promise<void> {
    await this.container.stop({ remove: true, timeout: 1_000 }).catch(() => undefined);
    this.running = false;
  }
}

async function loadTestcontainers(): Promise<Testcontainers> {
  try {
    return await import("testcontainers");
  } catch (err) {
    throw new HarnessError(
      "TESSERA_E_HARNESS_MODE",
      `containers mode needs testcontainers: ${(err as Error).message}`,
    );
  }
}

async function startContainer(
  tc: Testcontainers,
  name: string,
  args: string[],
  network: { getName(): string } | undefined,
  jetstream = true,
): Promise<{ started: Started; port: number; monitorPort: number }> {
  const [port, monitorPort] = (await freePorts(2)) as [number, number];
  let builder = new tc.GenericContainer(NATS_IMAGE)
    .withExposedPorts({ container: 4222, host: port }, { container: 8222, host: monitorPort })
    .withCommand([
      ...(jetstream ? ["-js", "-sd", STORE] : []),
      ...["-n", name, "-m", "8222", ...args],
      // Clients run on the host: a cluster node would otherwise advertise its container IPs,
      // and a client reconnecting to a killed node's IP waits out its whole connect timeout
      // (20 s) instead of being refused at once on the freed host port.
      ...["--client_advertise", `127.0.0.1:${port}`],
    ])
    .withWaitStrategy(tc.Wait.forListeningPorts());
  if (network) builder = builder.withNetworkMode(network.getName()).withNetworkAliases(name);
  return { started: await builder.start(), port, monitorPort };
}

export async function startContainerServer(
  readyTimeoutMs: number,
  jetstream = true,
): Promise<NatsServer> {
  const tc = await loadTestcontainers();
  const { started, port, monitorPort } = await startContainer(
    tc,
    "nats-0",
    [],
    undefined,
    jetstream,
  );
  const node = new ContainerNatsNode(
    tc,
    "nats-0",
    started,
    port,
    monitorPort,
    false,
    readyTimeoutMs,
  );
  await waitFor("nats container healthz", () => isHealthy(monitorPort), readyTimeoutMs, 100);
  return Object.assign(node, {
    mode: "containers" as const,
    stop: () => node.remove(),
  });
}

export async function startContainerCluster(
  size: number,
  readyTimeoutMs: number,
): Promise<NatsCluster> {
  const tc = await loadTestcontainers();
  const network = await new tc.Network().start();
  const names = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const nodes: ContainerNatsNode[] = [];
  try {
    const started = await Promise.all(
      names.map((name) =>
        startContainer(
          tc,
          name,
          [
            "--cluster_name",
            "tessera",
            "--cluster",
            "nats://0.0.0.0:6222",
            "--routes",
            names
              .filter((n) => n !== name)
              .map((n) => `nats-route://${n}:6222`)
              .join(","),
          ],
          network,
        ),
      ),
    );
    for (const [i, s] of started.entries()) {
      nodes.push(
        new ContainerNatsNode(
          tc,
          names[i]!,
          s.started,
          s.port,
          s.monitorPort,
          true,
          readyTimeoutMs,
        ),
      );
    }
    const running = () => nodes.filter((n) => n.running).map((n) => n.monitorPort);
    await waitForAgreedLeader(running, readyTimeoutMs);
    return {
      mode: "containers",
      servers: nodes,
      urls: nodes.map((n) => n.url),
      waitForMetaLeader: (timeoutMs = readyTimeoutMs) => waitForAgreedLeader(running, timeoutMs),
      async stop() {
        await Promise.all(nodes.map((n) => n.remove()));
        await network.stop().catch(() => undefined);
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.remove()));
    await network.stop().catch(() => undefined);
    throw err;
  }
}
