// ONNX graphs for the tile kernels, built in code and serialized with the protobufjs-generated
// onnx.proto bindings (onnx-proto): nothing is downloaded and no protobuf is hand-encoded.
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";

const { onnx } = onnxProto;

/** Opset 13: MatMul, Gemm and Add have had their current semantics since 13. */
export const OPSET_VERSION = 13;
/** IR 8 is the newest the onnx-proto schema knows and every ORT ≥ 1.10 loads it. */
const IR_VERSION = 8;

/** The GEMM op used for Map; both compute A·B, the bench compares them. */
export type GemmOp = "MatMul" | "Gemm";

function tensorInput(
  name: string,
  elemType: OnnxTypes.TensorProto.DataType,
  rows: number,
  cols: number,
): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: [{ dimValue: rows }, { dimValue: cols }] } } },
  };
}

function floatInput(name: string, rows: number, cols: number): OnnxTypes.IValueInfoProto {
  return tensorInput(name, onnx.TensorProto.DataType.FLOAT, rows, cols);
}

function squareFloatInput(name: string, tile: number): OnnxTypes.IValueInfoProto {
  return floatInput(name, tile, tile);
}

function encodeModel(graph: OnnxTypes.IGraphProto): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: "tessera-agent",
    producerVersion: "1",
    opsetImport: [{ domain: "", version: OPSET_VERSION }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * Map kernel: C = A · B with A float32 [tile, inner], B [inner, tile], C [tile, tile]; inputs "A",
 * "B", output "C". inner = tile for one pair of tiles; inner = d·tile for a map that sums d inner
 * products (its A tiles side by side, its B tiles stacked: see packInnerTiles).
 */
export function buildMatMulModel(tile: number, op: GemmOp = "MatMul", inner = tile): Uint8Array {
  assertTile(tile);
  assertInner(tile, inner);
  const node: OnnxTypes.INodeProto =
    op === "MatMul"
      ? { opType: "MatMul", input: ["A", "B"], output: ["C"], name: "map_matmul" }
      : {
          opType: "Gemm",
          input: ["A", "B"],
          output: ["C"],
          name: "map_gemm",
          // alpha=1, no C operand, no transposes: plain A·B through the Gemm kernel path.
          attribute: [{ name: "alpha", type: onnx.AttributeProto.AttributeType.FLOAT, f: 1 }],
        };
  return encodeModel({
    name: `tessera_map_${op.toLowerCase()}_t${tile}${inner === tile ? "" : `_k${inner}`}`,
    node: [node],
    input: [floatInput("A", tile, inner), floatInput("B", inner, tile)],
    output: [squareFloatInput("C", tile)],
  });
}

/**
 * A's zero point in the 8-bit Map kernel: A is stored as a + 128 (uint8), B as b (int8), so
 * MatMulInteger computes Σ (a' − 128)·b = Σ a·b exactly in int32 (see int8-operands.ts).
 */
export const INT8_A_ZERO_POINT = 128;

/**
 * The exact-mode Map kernel in 8-bit integers: C = float32(MatMulInteger(A − 128, B)) with A
 * uint8 [tile, inner], B int8 [inner, tile], C float32 [tile, tile]; inputs "A", "B", output "C".
 * MLAS runs uint8·int8 GEMMs with VNNI/VPMADDUBSW, about twice the float32 GEMM's speed on one
 * core; the int32 sums and their float32 cast are exact while |C| < 2^24, which exact mode's
 * element bound guarantees (libs/matrix exactElementBound).
 */
export function buildMatMulInt8Model(tile: number, inner = tile): Uint8Array {
  assertTile(tile);
  assertInner(tile, inner);
  const T = onnx.TensorProto.DataType;
  return encodeModel({
    name: `tessera_map_int8_t${tile}${inner === tile ? "" : `_k${inner}`}`,
    node: [
      { opType: "MatMulInteger", input: ["A", "B", "a_zero"], output: ["C32"], name: "map_int8" },
      {
        opType: "Cast",
        input: ["C32"],
        output: ["C"],
        name: "map_int8_to_float",
        attribute: [{ name: "to", type: onnx.AttributeProto.AttributeType.INT, i: T.FLOAT }],
      },
    ],
    initializer: [
      { name: "a_zero", dataType: T.UINT8, dims: [], rawData: Uint8Array.of(INT8_A_ZERO_POINT) },
    ],
    input: [tensorInput("A", T.UINT8, tile, inner), tensorInput("B", T.INT8, inner, tile)],
    output: [squareFloatInput("C", tile)],
  });
}

/** Input names of a reduce graph with `fanIn` inputs: p0, p1, … */
export function reduceInputNames(fanIn: number): string[] {
  return Array.from({ length: fanIn }, (_, k) => `p${k}`);
}

/**
 * Reduce kernel: S = ((p0 + p1) + p2) + … + p{fanIn-1}, an explicit chain of binary Adds so the
 * float32 summation order is fixed by the graph (ReduceSum/Sum leave the order to the kernel).
 * With fanIn = 1 the graph is an Identity, so a K = 1 job still goes through the same path.
 */
export function buildReduceModel(tile: number, fanIn: number): Uint8Array {
  assertTile(tile);
  if (!Number.isInteger(fanIn) || fanIn < 1) {
    throw new RangeError(`reduce fan-in: must be an integer ≥ 1, got ${fanIn}`);
  }
  const inputs = reduceInputNames(fanIn);
  const nodes: OnnxTypes.INodeProto[] = [];
  if (fanIn === 1) {
    nodes.push({ opType: "Identity", input: ["p0"], output: ["S"], name: "reduce_identity" });
  } else {
    let acc = "p0";
    for (let k = 1; k < fanIn; k++) {
      const out = k === fanIn - 1 ? "S" : `s${k}`;
      nodes.push({ opType: "Add", input: [acc, `p${k}`], output: [out], name: `reduce_add_${k}` });
      acc = out;
    }
  }
  return encodeModel({
    name: `tessera_reduce_t${tile}_k${fanIn}`,
    node: nodes,
    input: inputs.map((name) => squareFloatInput(name, tile)),
    output: [squareFloatInput("S", tile)],
  });
}

function assertTile(tile: number): void {
  if (!Number.isInteger(tile) || tile < 1 || tile > 65536) {
    throw new RangeError(`tile: must be an integer between 1 and 65536, got ${tile}`);
  }
}

function assertInner(tile: number, inner: number): void {
  if (!Number.isInteger(inner) || inner < tile || inner % tile !== 0) {
    throw new RangeError(`inner dimension: must be a multiple of the tile ${tile}, got ${inner}`);
  }
}
