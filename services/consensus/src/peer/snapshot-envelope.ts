import type { NodeId } from "@tessera/raft";
import { SnapshotEnvelopeError } from "./errors.js";
import type { PeerAddress } from "./types.js";

/**
 * What a Raft snapshot's data holds in this service: the members' addresses followed by the
 * state machine's image. Addresses travel with the snapshot because a peer that restores from
 * one (restart after compaction, or InstallSnapshot) no longer has the conf-change entries
 * whose context carried the addresses of peers added at run time.
 *
 * Layout: "TSNP" | u8 version | u32 LE addressesJsonLength | addresses JSON | FSM bytes.
 */

const MAGIC = [0x54, 0x53, 0x4e, 0x50]; // "TSNP"
const VERSION = 1;
const HEADER = 4 + 1 + 4;

export function encodeSnapshotEnvelope(
  addresses: readonly PeerAddress[],
  fsm: Uint8Array,
): Uint8Array {
  const json = Buffer.from(
    JSON.stringify(
      addresses.map((a) => ({ id: a.id, grpc: a.grpc, ...(a.http ? { http: a.http } : {}) })),
    ),
    "utf8",
  );
  const out = new Uint8Array(HEADER + json.length + fsm.length);
  out.set(MAGIC, 0);
  const dv = new DataView(out.buffer);
  dv.setUint8(4, VERSION);
  dv.setUint32(5, json.length, true);
  out.set(json, HEADER);
  out.set(fsm, HEADER + json.length);
  return out;
}

export function decodeSnapshotEnvelope(
  index: number,
  data: Uint8Array,
): { addresses: PeerAddress[]; fsm: Uint8Array } {
  if (data.length < HEADER || MAGIC.some((b, i) => data[i] !== b)) {
    throw new SnapshotEnvelopeError(index, "missing TSNP header");
  }
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = dv.getUint8(4);
  if (version !== VERSION) throw new SnapshotEnvelopeError(index, `unknown version ${version}`);
  const len = dv.getUint32(5, true);
  if (HEADER + len > data.length) {
    throw new SnapshotEnvelopeError(index, `address block length ${len} exceeds the data`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data.subarray(HEADER, HEADER + len)).toString("utf8"));
  } catch (e) {
    throw new SnapshotEnvelopeError(index, `address block is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new SnapshotEnvelopeError(index, "address block is not a list");
  const addresses = parsed.map((a: unknown) => parsePeerAddress(a, `snapshot ${index}`));
  return { addresses, fsm: data.subarray(HEADER + len) };
}

/** Encodes an address as conf-change context (replicated with the membership change). */
export function encodeAddressContext(a: PeerAddress): Uint8Array {
  return Buffer.from(
    JSON.stringify({ id: a.id, grpc: a.grpc, ...(a.http ? { http: a.http } : {}) }),
  );
}

export function decodeAddressContext(ctx: Uint8Array, nodeId: NodeId): PeerAddress | undefined {
  if (ctx.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(ctx).toString("utf8"));
  } catch {
    return undefined;
  }
  try {
    const a = parsePeerAddress(parsed, "conf change context");
    return a.id === nodeId ? a : undefined;
  } catch {
    return undefined;
  }
}

function parsePeerAddress(v: unknown, where: string): PeerAddress {
  if (typeof v !== "object" || v === null)
    throw new SnapshotEnvelopeError(0, `${where}: address is not an object`);
  const o = v as Record<string, unknown>;
  if (
    typeof o.id !== "number" ||
    !Number.isSafeInteger(o.id) ||
    o.id <= 0 ||
    typeof o.grpc !== "string"
  ) {
    throw new SnapshotEnvelopeError(
      0,
      `${where}: address needs a positive id and a grpc host:port`,
    );
  }
  return { id: o.id, grpc: o.grpc, ...(typeof o.http === "string" ? { http: o.http } : {}) };
}
