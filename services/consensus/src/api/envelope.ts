// Command envelopes at the doors (HTTP, gRPC, JetStream): the same codec the FSM applies, run
// before proposing so that a malformed command is refused with a field path instead of taking a
// log entry. The FSM validates again on apply (it must: the log is its only input).
import {
  type CommandEnvelope,
  commandEnvelopeCodec,
  MAX_COMMAND_BYTES,
  type ManifestCommand,
} from "@tessera/protocol";

export type Envelope = CommandEnvelope;

const encoder = new TextEncoder();

/** Bytes → validated envelope; throws ProtocolError (decode / validation / too large). */
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  return commandEnvelopeCodec.decode(bytes, MAX_COMMAND_BYTES);
}

/** Already-parsed JSON (an HTTP body) → validated envelope; throws ProtocolValidationError. */
export function parseEnvelope(value: unknown): Envelope {
  return commandEnvelopeCodec.parse(value);
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
