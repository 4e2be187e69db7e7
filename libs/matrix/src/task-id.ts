import { TaskIdError } from "./errors.js";

/**
 * Map task (i, j, k): C_part(i,j,k) = A(i,k) · B(k,j); with a spec's `kPerMap` = d > 1, `k` is
 * the group: C_part(i,j,k) = Σ A(i,k')·B(k',j) over k' = k·d … k·d + d − 1.
 */
export interface MapCoord {
  readonly kind: "map";
  readonly i: number;
  readonly j: number;
  readonly k: number;
}

/** Reduce task (i, j): C(i,j) = Σ_k C_part(i,j,k), summed in order k = 0..K/kPerMap − 1. */
export interface ReduceCoord {
  readonly kind: "reduce";
  readonly i: number;
  readonly j: number;
}

export type TaskCoord = MapCoord | ReduceCoord;

export function mapTaskId(i: number, j: number, k: number): string {
  return `m-${i}-${j}-${k}`;
}

export function reduceTaskId(i: number, j: number): string {
  return `r-${i}-${j}`;
}

export function taskIdOf(coord: TaskCoord): string {
  return coord.kind === "map"
    ? mapTaskId(coord.i, coord.j, coord.k)
    : reduceTaskId(coord.i, coord.j);
}

// Canonical decimal only (no leading zeros, no sign): one task, one id string.
const MAP_ID = /^m-(0|[1-9]\d{0,8})-(0|[1-9]\d{0,8})-(0|[1-9]\d{0,8})$/;
const REDUCE_ID = /^r-(0|[1-9]\d{0,8})-(0|[1-9]\d{0,8})$/;

/**
 * Parses `m-i-j-k` / `r-i-j`. With `tilesPerSide` given, also checks i and j are < K and a map's
 * k is < `partialsPerReduce` (K / kPerMap; K when not given). Throws `TaskIdError` otherwise.
 */
export function parseTaskId(
  taskId: string,
  tilesPerSide?: number,
  partialsPerReduce = tilesPerSide,
): TaskCoord {
  let coord: TaskCoord;
  const m = MAP_ID.exec(taskId);
  if (m) {
    coord = { kind: "map", i: Number(m[1]), j: Number(m[2]), k: Number(m[3]) };
  } else {
    const r = REDUCE_ID.exec(taskId);
    if (!r) throw new TaskIdError(taskId, "expected m-<i>-<j>-<k> or r-<i>-<j>");
    coord = { kind: "reduce", i: Number(r[1]), j: Number(r[2]) };
  }
  if (tilesPerSide !== undefined) {
    const max = Math.max(coord.i, coord.j);
    if (max >= tilesPerSide) {
      throw new TaskIdError(taskId, `coordinate ${max} is outside the grid (K = ${tilesPerSide})`);
    }
    const groups = partialsPerReduce ?? tilesPerSide;
    if (coord.kind === "map" && coord.k >= groups) {
      throw new TaskIdError(
        taskId,
        groups === tilesPerSide
          ? `coordinate ${coord.k} is outside the grid (K = ${tilesPerSide})`
          : `map group k = ${coord.k} is outside 0..${groups - 1} (K = ${tilesPerSide}, ${tilesPerSide / groups} inner tiles per map)`,
      );
    }
  }
  return coord;
}
