// Typed errors of the scheduler; `code` is stable (our error catalogue), `message` says what to do.
export const SchedulerErrorCode = {
  Config: "TESSERA_E_SCHEDULER_CONFIG",
  Consensus: "TESSERA_E_SCHEDULER_CONSENSUS",
  Manifest: "TESSERA_E_SCHEDULER_MANIFEST",
  Messaging: "TESSERA_E_SCHEDULER_MESSAGING",
} as const;
export type SchedulerErrorCode = (typeof SchedulerErrorCode)[keyof typeof SchedulerErrorCode];

export class SchedulerError extends Error {
  override readonly name = "SchedulerError";
  constructor(
    readonly code: SchedulerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
