// Error catalogue of the agent: every error it raises carries one of these codes so logs,
// completions and tests can match on the code rather than on message text.
export const AgentErrorCode = {
  /** A flag or environment variable is missing or malformed. */
  Config: "TESSERA_E_AGENT_CONFIG",
  /** `--ep cuda` was demanded but the CUDA execution provider could not be loaded. */
  CudaUnavailable: "TESSERA_E_AGENT_CUDA_UNAVAILABLE",
  /** ONNX Runtime failed to create a session or to run a kernel. */
  Kernel: "TESSERA_E_AGENT_KERNEL",
  /** A tile's shape or size does not match what the work item says. */
  TileShape: "TESSERA_E_AGENT_TILE_SHAPE",
  /** Something failed that has no code of its own (a bug): the message says what. */
  Internal: "TESSERA_E_AGENT_INTERNAL",
  /** Work was released because the agent is shutting down. */
  Draining: "TESSERA_E_AGENT_DRAINING",
} as const;

export type AgentErrorCode = (typeof AgentErrorCode)[keyof typeof AgentErrorCode];

export class AgentError extends Error {
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AgentError";
    this.code = code;
  }
}
