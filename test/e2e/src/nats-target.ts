// Where the suites' and benches' own NATS connections go: the servers and, for a secured NATS,
// the credentials and TLS files its services use (a cluster's TESSERA_NATS_* environment).
import type { NatsSecurity } from "@tessera/config";
import { connect, type NatsConnection } from "@tessera/messaging";

export interface NatsTarget {
  readonly servers: readonly string[];
  readonly security?: NatsSecurity;
}

/** A plain server list (no credentials) or a target. */
export type NatsAt = readonly string[] | NatsTarget;

export function natsTargetOf(at: NatsAt): NatsTarget {
  return "servers" in at ? (at as NatsTarget) : { servers: at as readonly string[] };
}

export function connectTo(at: NatsAt, name: string): Promise<NatsConnection> {
  const t = natsTargetOf(at);
  return connect({ servers: t.servers, name, ...(t.security ? { security: t.security } : {}) });
}
