// Agents report results as CompletionV1 on `tessera.cmd.task.complete` (services/agent). The
// manifest only applies command envelopes, so ingestion translates each report into an
// attempt-complete (status ok) or attempt-fail (status failed) command; a CompletionBatchV1 on
// `tessera.cmd.task.complete-batch` becomes one attempt-report-batch of those.
//
// Exactly-once needs no per-agent session here: fencing makes both commands idempotent (a repeated
// completion of the winning attempt with the same output replies `alreadyComplete`; anything else
// is `stale-attempt`). The envelope still needs a (clientId, seq): one shared session whose seq is
// the message's stream sequence, which is the same on every redelivery of that message.
import {
  type AttemptCompleteCommand,
  type AttemptFailCommand,
  type CompletionV1,
  type DirectReportV1,
  decodeCompletion,
  decodeCompletionBatch,
  MAX_COMMAND_BYTES,
  type ManifestCommand,
  SUBJECTS,
} from "@tessera/protocol";
import { decodeEnvelope, type Envelope, encodeEnvelope } from "../api/envelope.js";

/** The session every translated agent report is applied under. */
export const COMPLETIONS_CLIENT_ID = "agent-completions";
/**
 * The session of translated completion batches: its own, so its seqs (also stream sequences)
 * rise on their own and never fall under the floor that lone completions raise.
 */
export const COMPLETION_BATCHES_CLIENT_ID = "agent-completion-batches";

const REASON_MAX = 1024;

/** A CMD stream message as ingestion sees it. */
export interface IncomingCommand {
  readonly subject: string;
  readonly data: Uint8Array;
  /** JetStream stream sequence (stable across redeliveries). */
  readonly seq: number;
}

/** CompletionV1 bytes → the manifest command it stands for. Throws ProtocolError when invalid. */
export function completionToCommand(bytes: Uint8Array): ManifestCommand {
  return reportOf(decodeCompletion(bytes, MAX_COMMAND_BYTES));
}

/** CompletionBatchV1 bytes → one attempt-report-batch. Throws ProtocolError when invalid. */
export function completionBatchToCommand(bytes: Uint8Array): ManifestCommand {
  const batch = decodeCompletionBatch(bytes, MAX_COMMAND_BYTES);
  return { type: "attempt-report-batch", reports: batch.completions.map(reportOf) };
}

function reportOf(c: CompletionV1): AttemptCompleteCommand | AttemptFailCommand {
  if (c.status === "ok" && c.output) {
    return {
      type: "attempt-complete",
      jobId: c.jobId,
      taskId: c.taskId,
      attempt: c.attempt,
      nodeId: c.nodeId,
      output: { uri: c.output.uri, checksum: c.output.checksum, bytes: c.output.bytes },
      timings: c.timings,
    };
  }
  const why = c.error ? `${c.error.code}: ${c.error.message}` : "agent reported failure";
  return {
    type: "attempt-fail",
    jobId: c.jobId,
    taskId: c.taskId,
    attempt: c.attempt,
    nodeId: c.nodeId,
    reason: (why || "agent reported failure").slice(0, REASON_MAX),
    // The FSM bounds retries per task; a deterministic failure still fails the job after them.
    retryable: true,
  };
}

/**
 * The envelope bytes to propose for a report sent straight to the leader (DirectReportV1): the
 * same command as its TESSERA_CMD twin, under the agent's own session, with a Handover when it
 * asks for one (a lone failure starts nothing, so it carries none), and that command. Throws
 * ProtocolError when the result does not validate as an envelope.
 */
export function directReportEnvelope(r: DirectReportV1): {
  bytes: Uint8Array;
  cmd: ManifestCommand;
} {
  const handover = r.handoverMax > 0 ? { handover: { pool: r.pool, max: r.handoverMax } } : {};
  let cmd: ManifestCommand;
  if (r.completion) {
    const one = reportOf(r.completion);
    cmd = one.type === "attempt-complete" ? { ...one, ...handover } : one;
  } else {
    const reports = (r.batch?.completions ?? []).map(reportOf);
    cmd = { type: "attempt-report-batch", reports, ...handover };
  }
  const env: Envelope = {
    v: 1,
    clientId: r.clientId,
    seq: r.seq,
    ...(r.ackedSeq === undefined ? {} : { ackedSeq: r.ackedSeq }),
    cmd,
  };
  const bytes = encodeEnvelope(env);
  decodeEnvelope(bytes);
  return { bytes, cmd };
}

/**
 * The envelope bytes to propose for one CMD stream message: agent completions are translated,
 * everything else must already be a valid envelope. Throws ProtocolError for a bad message.
 */
export function commandBytesFor(msg: IncomingCommand): Uint8Array {
  if (msg.subject === SUBJECTS.taskComplete) {
    const env: Envelope = {
      v: 1,
      clientId: COMPLETIONS_CLIENT_ID,
      seq: msg.seq,
      cmd: completionToCommand(msg.data),
    };
    return encodeEnvelope(env);
  }
  if (msg.subject === SUBJECTS.taskCompleteBatch) {
    return encodeEnvelope({
      v: 1,
      clientId: COMPLETION_BATCHES_CLIENT_ID,
      seq: msg.seq,
      cmd: completionBatchToCommand(msg.data),
    });
  }
  decodeEnvelope(msg.data);
  return msg.data;
}
