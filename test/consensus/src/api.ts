/**
 * The consensus service's HTTP API as the suites use it: cluster view, stale local reads, fault
 * injection. Every response is checked for the fields the suites rely on, so a changed API fails
 * with a message naming the field instead of a wrong count.
 */
import { ClusterError } from "./errors.js";
import { httpJson, isRecord } from "./http.js";
import type { PeerProcess } from "./peer-process.js";

/** One peer's own view of the cluster (GET /v1/cluster). */
export interface ClusterView {
  readonly id: number;
  readonly role: string;
  readonly term: number;
  /** 0 = no leader known. */
  readonly leaderId: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly snapshotIndex: number;
  /** FSM digest at appliedIndex, when the endpoint reports it. */
  readonly digest: string | undefined;
  readonly raw: Record<string, unknown>;
}

/** Per-link injected faults (PUT /admin/faults). */
export interface LinkFaults {
  readonly delayMs?: number;
  readonly jitterMs?: number;
  /** Probability in [0, 1] that a message on the link is dropped; 1 = cut. */
  readonly lossRate?: number;
}

const num = (obj: Record<string, unknown>, key: string, where: string): number => {
  const v = obj[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new ClusterError("protocol", `${where}: field ${key} is ${JSON.stringify(v)}`);
  }
  return v;
};

export function parseClusterView(body: unknown, where: string): ClusterView {
  if (!isRecord(body)) throw new ClusterError("protocol", `${where}: not a JSON object`);
  const self = isRecord(body.self) ? { ...body, ...body.self } : body;
  const digest = self.digest;
  return {
    id: num(self, "id", where),
    role: String(self.role),
    term: num(self, "term", where),
    // `leader: {id, grpc, http} | null` (older shapes: `leaderId`).
    leaderId:
      typeof self.leaderId === "number"
        ? self.leaderId
        : isRecord(self.leader) && typeof self.leader.id === "number"
          ? self.leader.id
          : 0,
    commitIndex: num(self, "commitIndex", where),
    appliedIndex: num(self, "appliedIndex", where),
    snapshotIndex: typeof self.snapshotIndex === "number" ? self.snapshotIndex : 0,
    digest: typeof digest === "string" ? digest : undefined,
    raw: body,
  };
}

export async function fetchClusterView(peer: PeerProcess, timeoutMs = 2_000): Promise<ClusterView> {
  const where = `peer ${peer.id} GET /v1/cluster`;
  const res = await httpJson("GET", `${peer.httpUrl}/v1/cluster?digest=1`, undefined, timeoutMs);
  if (res.status !== 200) {
    throw new ClusterError("http", `${where}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
  return parseClusterView(res.body, where);
}

/**
 * Sets every outgoing link of `peer` towards `others`: the ones named in `links` get those
 * faults, the rest none (the admin endpoint only changes the links a request names).
 */
export async function putFaults(
  peer: PeerProcess,
  links: Readonly<Record<number, LinkFaults>>,
  others: readonly number[],
): Promise<void> {
  const wire = (f: LinkFaults | undefined) => ({
    delayMs: f?.delayMs ?? 0,
    jitterMs: f?.jitterMs ?? 0,
    lossRate: f?.lossRate ?? 0,
  });
  const body = {
    links: Object.fromEntries(
      others.filter((id) => id !== peer.id).map((id) => [String(id), wire(links[id])]),
    ),
  };
  const res = await httpJson("PUT", `${peer.httpUrl}/admin/faults`, body);
  if (res.status < 200 || res.status >= 300) {
    throw new ClusterError(
      "http",
      `peer ${peer.id} PUT /admin/faults: HTTP ${res.status} ${JSON.stringify(res.body)}`,
    );
  }
}
