// Command envelopes at the doors (HTTP, gRPC, JetStream): the same codec the FSM applies, run
// before proposing so that a malformed command is refused with a field path instead of taking a
// log entry. The FSM validates again on apply (it must: the log is its only input).
import {
  type CommandEnvelope,
  commandEnvelopeCodec,
  MAX_COMMAND_BYTES,
  type ManifestCommand,
  ProtocolValidationError,
} from "@tessera/protocol";

export type Envelope = CommandEnvelope;

const encoder = new TextEncoder();

/**
 * Commands only the service itself proposes. `cluster-level` above what a peer supports stops
 * that peer by design (fsm/README "Feature levels"), so only the leader's own check that every
 * member supports the level (api/feature-level.ts) may propose it, never a client.
 */
function refuseInternal(env: Envelope): Envelope {
  if (env.cmd.type === "cluster-level") {
    throw new ProtocolValidationError("manifest command", [
      {
        path: "/cmd/type",
        reason:
          "cluster-level is proposed only by the consensus leader, once every peer supports the level",
      },
    ]);
  }
  return env;
}

/** Bytes → validated envelope; throws ProtocolError (decode / validation / too large). */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  return refuseInternal(commandEnvelopeCodec.decode(bytes, MAX_COMMAND_BYTES));
}

/** Already-parsed JSON (an HTTP body) → validated envelope; throws ProtocolValidationError. */
export function parseEnvelope(value: unknown): Envelope {
  return refuseInternal(commandEnvelopeCodec.parse(value));
}

export function encodeEnvelope(env: Envelope): Uint8Array {
  return encoder.encode(JSON.stringify(env));
}

/** Wraps a command in an envelope of a server-side session (HTTP convenience routes). */
export function envelopeFor(
  cmd: ManifestCommand,
  clientId: string,
  seq: number,
  ackedSeq?: number,
): Envelope {
  return ackedSeq === undefined
    ? { v: 1, clientId, seq, cmd }
    : { v: 1, clientId, seq, ackedSeq, cmd };
}
