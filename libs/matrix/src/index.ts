// Public API of @tessera/matrix: tiling and task plans, storage keys, deterministic input
// generation, the tile file format, reference GEMM and Freivalds verification.

export { crc32cHex, crc32cOf, formatCrc32c, isCrc32cHex } from "./checksum.js";
export {
  JobSpecError,
  MatrixError,
  MatrixErrorCode,
  TaskIdError,
  TileChecksumError,
  TileFormatError,
} from "./errors.js";
export {
  type FreivaldsOptions,
  type InputTileSource,
  type OutputTileSource,
  type TileFailure,
  type VerifyJobResult,
  type VerifyTileResult,
  verifyJob,
  verifyTile,
} from "./freivalds.js";
export {
  generateMatrix,
  generateTile,
  generateTileA,
  generateTileB,
  generateTileWith,
  MAX_DENSE_N,
} from "./generate.js";
export { type SimdRows, simdRows } from "./generate-simd.js";
export {
  assertJobId,
  datasetId,
  EMPTY_OUTPUT_SCHEME,
  emptyOutput,
  type InputMatrix,
  inputKey,
  inputKeyA,
  inputKeyB,
  outputKey,
  partialKey,
  partialKeysOfReduce,
} from "./keys.js";
export { jobOutputDigest, outputDigest } from "./output-digest.js";
export { JobPlan, type MapTask, planJob, type ReduceTask } from "./plan.js";
export {
  referenceGemm,
  referenceOutputTile,
  referenceProduct,
  tileGemm,
} from "./reference-gemm.js";
export {
  AUTO_MAP_OPERAND_ELEMENTS,
  autoKPerMap,
  type ComputeMode,
  exactElementBound,
  kPerMapOf,
  MAX_N,
  MAX_SEED,
  MAX_TILE,
  type MatmulJobSpec,
  type MatmulMode,
  MIN_TILE,
  partialsPerReduce,
  tilesPerSide,
  validateJobSpec,
} from "./spec.js";
export {
  type MapCoord,
  mapTaskId,
  parseTaskId,
  type ReduceCoord,
  reduceTaskId,
  type TaskCoord,
  taskIdOf,
} from "./task-id.js";
export {
  allocateTile,
  type DecodedTile,
  type DecodeTileExpectations,
  decodeTile,
  type EncodeTileOptions,
  encodeTile,
  HOST_IS_LITTLE_ENDIAN,
  readTileHeader,
  sealTile,
  TILE_FORMAT_VERSION,
  TILE_HEADER_BYTES,
  TILE_MAGIC,
  type TileHeader,
  type TileMode,
  type TileUnderConstruction,
  tileFileBytes,
  tileModeOf,
} from "./tile-format.js";
