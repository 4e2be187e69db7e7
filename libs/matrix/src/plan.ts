import { MatrixError, MatrixErrorCode } from "./errors.js";
import type { MatmulJobSpec } from "./spec.js";
import { kPerMapOf, validateJobSpec } from "./spec.js";
import {
  type MapCoord,
  mapTaskId,
  parseTaskId,
  type ReduceCoord,
  reduceTaskId,
} from "./task-id.js";

export interface MapTask extends MapCoord {
  /**
   * Ordinal in the plan's map order: ((i·K) + j)·G + k with G = partialsPerReduce, so one
   * reduce's maps are contiguous.
   */
  readonly index: number;
  readonly taskId: string;
}

export interface ReduceTask extends ReduceCoord {
  /** Ordinal in row-major (i, j) order: i·K + j. */
  readonly index: number;
  readonly taskId: string;
}

/**
 * The task plan of a blocked matmul job, computed on demand: it stores only the spec and K,
 * never a list of tasks, so a job with 2^21 maps costs the same to plan as one with 8.
 * Everything a scheduler or the manifest needs is an O(1) function of an ordinal or coordinate.
 */
export class JobPlan {
  readonly spec: MatmulJobSpec;
  /** Tiles per side, K = n / tile. */
  readonly tilesPerSide: number;
  /** Inner tiles each map sums (the spec's kPerMap, default 1). */
  readonly kPerMap: number;
  /** Maps per reduce = partials one reduce sums, G = K / kPerMap. */
  readonly partialsPerReduce: number;
  /** K²·G map tasks (K³ with one inner tile per map). */
  readonly mapCount: number;
  /** K² reduce tasks (= output tiles). */
  readonly reduceCount: number;

  constructor(spec: MatmulJobSpec) {
    this.spec = validateJobSpec(spec);
    const K = this.spec.n / this.spec.tile;
    this.tilesPerSide = K;
    this.kPerMap = kPerMapOf(this.spec);
    this.partialsPerReduce = K / this.kPerMap;
    this.mapCount = K * K * this.partialsPerReduce;
    this.reduceCount = K * K;
  }

  get taskCount(): number {
    return this.mapCount + this.reduceCount;
  }

  /** Map task by ordinal (0 ≤ index < mapCount). */
  mapTask(index: number): MapTask {
    checkOrdinal("map", index, this.mapCount);
    const K = this.tilesPerSide;
    const G = this.partialsPerReduce;
    const k = index % G;
    const ij = (index - k) / G;
    const j = ij % K;
    const i = (ij - j) / K;
    return { kind: "map", index, i, j, k, taskId: mapTaskId(i, j, k) };
  }

  /** Reduce task by ordinal (0 ≤ index < reduceCount). */
  reduceTask(index: number): ReduceTask {
    checkOrdinal("reduce", index, this.reduceCount);
    const K = this.tilesPerSide;
    const j = index % K;
    const i = (index - j) / K;
    return { kind: "reduce", index, i, j, taskId: reduceTaskId(i, j) };
  }

  mapIndex(i: number, j: number, k: number): number {
    this.checkCoord("i", i);
    this.checkCoord("j", j);
    this.checkCoord("k", k, this.partialsPerReduce);
    return (i * this.tilesPerSide + j) * this.partialsPerReduce + k;
  }

  reduceIndex(i: number, j: number): number {
    this.checkCoord("i", i);
    this.checkCoord("j", j);
    return i * this.tilesPerSide + j;
  }

  mapTaskAt(i: number, j: number, k: number): MapTask {
    return this.mapTask(this.mapIndex(i, j, k));
  }

  reduceTaskAt(i: number, j: number): ReduceTask {
    return this.reduceTask(this.reduceIndex(i, j));
  }

  /** Resolves a task id of this job (range-checked against K). */
  taskById(taskId: string): MapTask | ReduceTask {
    const c = parseTaskId(taskId, this.tilesPerSide, this.partialsPerReduce);
    return c.kind === "map" ? this.mapTaskAt(c.i, c.j, c.k) : this.reduceTaskAt(c.i, c.j);
  }

  /** All map tasks in ordinal order, one at a time (nothing is materialised). */
  *maps(from = 0, to = this.mapCount): Generator<MapTask> {
    const end = Math.min(to, this.mapCount);
    for (let index = Math.max(0, from); index < end; index++) yield this.mapTask(index);
  }

  /** All reduce tasks in ordinal order, one at a time. */
  *reduces(from = 0, to = this.reduceCount): Generator<ReduceTask> {
    const end = Math.min(to, this.reduceCount);
    for (let index = Math.max(0, from); index < end; index++) yield this.reduceTask(index);
  }

  /** The G maps whose partials reduce (i, j) sums, in summation order k = 0..G−1. */
  *mapsOfReduce(i: number, j: number): Generator<MapTask> {
    const first = this.mapIndex(i, j, 0);
    for (let k = 0; k < this.partialsPerReduce; k++) yield this.mapTask(first + k);
  }

  /** The inner tile indexes k' a map sums over, in order: k·kPerMap … k·kPerMap + kPerMap − 1. */
  innerTilesOfMap(map: MapCoord): number[] {
    this.checkCoord("k", map.k, this.partialsPerReduce);
    return Array.from({ length: this.kPerMap }, (_, d) => map.k * this.kPerMap + d);
  }

  /** The reduce a map feeds: map (i, j, k) → reduce (i, j). */
  reduceOfMap(map: MapCoord): ReduceTask {
    return this.reduceTaskAt(map.i, map.j);
  }

  private checkCoord(name: string, v: number, bound = this.tilesPerSide): void {
    if (!Number.isInteger(v) || v < 0 || v >= bound) {
      throw new MatrixError(
        MatrixErrorCode.TaskOutOfRange,
        `tile coordinate ${name} = ${v} is outside 0..${bound - 1}`,
      );
    }
  }
}

function checkOrdinal(kind: string, index: number, count: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new MatrixError(
      MatrixErrorCode.TaskOutOfRange,
      `${kind} ordinal ${index} is outside 0..${count - 1}`,
    );
  }
}

/** Validates the spec and returns its lazy plan. */
export function planJob(spec: MatmulJobSpec): JobPlan {
  return new JobPlan(spec);
}
