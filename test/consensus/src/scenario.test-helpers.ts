/**
 * Shared scenario plumbing for the process suites: a cluster plus NATS plus writers on every
 * door, torn down (logs kept on failure) whatever happens.
 */
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { sleep } from "@tessera/harness";
import { ConsensusCluster, type StartClusterOptions } from "./cluster.js";
import { grpcDoor, httpDoor, jetstreamDoor } from "./doors.js";
import { ManifestClients } from "./grpc-client.js";
import { type Door, Ledger, Writer } from "./workload.js";

/**
 * Flags every suite passes: a short JetStream ack wait, so that after a leader crash the
 * previous leader's in-flight commands come back within about a second (the new leader waits
 * for them before consuming newer ones; see services/consensus/src/ingest/command-consumer.ts).
 */
export const SUITE_FLAGS = ["--ack-wait-ms", "1000", "--log-level", "info"] as const;

export interface Rig {
  readonly cluster: ConsensusCluster;
  readonly clients: ManifestClients;
  readonly nc: NatsConnection | undefined;
  readonly ledger: Ledger;
  readonly writers: Writer[];
  /** Adds a writer on `door` (writer numbers are unique per rig, so seeds never collide). */
  addWriter(door: Door, pauseMs?: number): Writer;
  /** Stops the writers, giving in-flight commands until `graceMs` to be answered. */
  drainWriters(graceMs?: number): Promise<void>;
  /** Tears everything down; keeps the cluster's logs when `failed`. Returns the log dir if kept. */
  close(failed: boolean): Promise<string | undefined>;
}

export async function startRig(
  options: StartClusterOptions & { jetstream?: boolean },
): Promise<Rig> {
  const cluster = await ConsensusCluster.start({
    ...options,
    extraArgs: [...SUITE_FLAGS, ...(options.extraArgs ?? [])],
  });
  const clients = new ManifestClients();
  let nc: NatsConnection | undefined;
  if (options.jetstream !== false && cluster.nats) {
    nc = await connect({ servers: cluster.nats.url, name: `test:${options.name}` });
  }
  const ledger = new Ledger();
  const writers: Writer[] = [];
  let writerNo = 0;
  const grpcAddrs = () => cluster.peers.map((p) => p.grpcAddress);
  const httpUrls = () => cluster.peers.map((p) => p.httpUrl);
  return {
    cluster,
    clients,
    nc,
    ledger,
    writers,
    addWriter(door, pauseMs = 10) {
      const submit =
        door === "grpc"
          ? grpcDoor(clients, grpcAddrs)
          : door === "http"
            ? httpDoor(httpUrls)
            : jetstreamDoor(jetstream(nc as NatsConnection));
      if (door === "jetstream" && !nc) throw new Error("rig started without JetStream");
      const w = new Writer({
        door,
        writer: writerNo++,
        submit,
        ledger,
        pauseMs,
        clientPrefix: options.name,
      });
      writers.push(w);
      return w;
    },
    async drainWriters(graceMs = 30_000) {
      const deadline = Date.now() + graceMs;
      await Promise.all(writers.map((w) => w.drain(deadline)));
    },
    async close(failed) {
      await Promise.all(writers.map((w) => w.drain(Date.now())));
      clients.close();
      await nc?.close().catch(() => undefined);
      // Let in-flight RPCs fail before the processes they talk to vanish (quieter logs).
      await sleep(10);
      return cluster.stop({ keepLogs: failed });
    },
  };
}

/** Summary line for the test output (not asserted). */
export function ledgerSummary(ledger: Ledger): string {
  const doors: Door[] = ["grpc", "http", "jetstream"];
  return doors.map((d) => `${d} ${ledger.ackedBy(d)}`).join(", ");
}
