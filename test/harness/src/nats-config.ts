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
  /** Client TLS and authentication (single servers). */
  security?: NatsServerSecurity;
}

/** What a secured test server asks of its clients. */
export interface NatsServerSecurity {
  /** TLS for clients; `verifyClients` also requires a client certificate signed by `caFile`. */
  tls?: { certFile: string; keyFile: string; caFile: string; verifyClients?: boolean };
  /** `authorization { users: … }` (password auth). */
  users?: readonly { user: string; password: string }[];
  /** `authorization { token: … }`. */
  token?: string;
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
  const sec = c.security;
  if (sec?.tls) {
    lines.push(
      "tls {",
      `  cert_file: ${JSON.stringify(sec.tls.certFile)}`,
      `  key_file: ${JSON.stringify(sec.tls.keyFile)}`,
      `  ca_file: ${JSON.stringify(sec.tls.caFile)}`,
      `  verify: ${sec.tls.verifyClients === true}`,
      "}",
    );
  }
  if (sec?.users) {
    const users = sec.users
      .map((u) => `{ user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)} }`)
      .join(", ");
    lines.push(`authorization { users: [${users}] }`);
  } else if (sec?.token !== undefined) {
    lines.push(`authorization { token: ${JSON.stringify(sec.token)} }`);
  }
  return `${lines.join("\n")}\n`;
}
