// Public API of @tessera/agent: the kernel runner (used by benches) and the agent itself.
export { AGENT_USAGE, type AgentConfig, parseAgentConfig } from "./config.js";
export { AgentError, AgentErrorCode } from "./errors.js";
export {
  INT8_MAX_EXACT_BOUND,
  int8OperandA,
  int8OperandB,
  type MapKernel,
} from "./kernel/int8-operands.js";
export {
  type BoundKernel,
  type CudaProbe,
  type ExecutionProvider,
  type ExecutionProviderChoice,
  KernelRunner,
  type KernelRunnerOptions,
  probeCuda,
  type TileKernels,
} from "./kernel/kernel-runner.js";
export { KernelThreads } from "./kernel/kernel-threads.js";
export {
  buildMatMulInt8Model,
  buildMatMulModel,
  buildReduceModel,
  type GemmOp,
  OPSET_VERSION,
} from "./kernel/onnx-graphs.js";
