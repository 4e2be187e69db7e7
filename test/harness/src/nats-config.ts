/** Pure rendering of nats-server config files (no I/O), so the shape is easy to read and test. */

export interface NatsNodeConfig {
  name: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Present for cluster members. */
  cluster?: { name: string; port: number; routes: number[] };
}

export function renderNatsConfig(c: NatsNodeConfig): string {
  const lines = [
    `server_name: ${JSON.stringify(c.name)}`,
    `listen: "127.0.0.1:${c.port}"`,
    `http: "127.0.0.1:${c.monitorPort}"`,
  ];
  if (c.jetstream ?? true) {
    // Small caps: test servers share a small machine; defaults reserve most of RAM and disk.
    lines.push(
      `jetstream { store_dir: ${JSON.stringify(c.storeDir)}, max_memory_store: 268435456, max_file_store: 4294967296 }`,
    );
  }
  if (c.cluster) {
    const routes = c.cluster.routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ");
    lines.push(
      "cluster {",
      `  name: ${JSON.stringify(c.cluster.name)}`,
      `  listen: "127.0.0.1:${c.cluster.port}"`,
      `  routes: [${routes}]`,
      "}",
    );
  }
  return `${lines.join("\n")}\n`;
}
