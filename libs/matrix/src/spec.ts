import { JobSpecError } from "./errors.js";

/**
 * "exact": small integers stored as float32, every partial sum stays below 2^24, so the product
 * is bit-for-bit determined whatever the summation order (CPU, GPU, any tiling).
 * "float": uniform reals in [-1, 1); checked against a rounding-error tolerance.
 * "empty": the same task graph (maps, reduces, their dependencies) with nothing inside: agents
 * read, compute and store nothing, and report an empty output. Every attempt still goes through
 * the whole control path (attempt-start commit, work item, agent, completion commit): what
 * `pnpm bench noop-tasks` measures. Nothing to verify: the job succeeds once every reduce has
 * completed, with `verified` null (its digest is over the empty outputs, the same every run).
 */
export type MatmulMode = "exact" | "float" | "empty";

/** The modes whose tasks compute and store tiles (every mode but "empty"). */
export type ComputeMode = Exclude<MatmulMode, "empty">;

/** C = A · B with A, B square n×n, cut into (n/tile)² tiles of tile×tile. */
export interface MatmulJobSpec {
  readonly n: number;
  readonly tile: number;
  readonly mode: MatmulMode;
  readonly seed: number;
  /**
   * Inner tiles one map sums before writing its partial (a combiner; default 1): map (i,j,g)
   * writes Σ A(i,k)·B(k,j) over k = g·kPerMap … g·kPerMap + kPerMap − 1, so each reduce sums
   * K / kPerMap partials instead of K. It must divide K. Fewer, larger durable partials: less
   * storage traffic and fewer tasks, at a coarser unit of retry. Absent when 1 (the canonical
   * form, so specs written before it existed read the same).
   */
  readonly kPerMap?: number;
}

export const MAX_N = 2 ** 20;
export const MIN_TILE = 16;
export const MAX_TILE = 8192;
export const MAX_SEED = 0xffff_ffff;
/**
 * Largest packed map operand, kPerMap·tile² float32 elements (256 MiB): an agent holds two such
 * operands per running map, so a spec asking for more is refused at submit, not by an OOM.
 */
export const MAX_MAP_OPERAND_ELEMENTS = 2 ** 26;

function isPowerOfTwo(x: number): boolean {
  return x > 0 && (x & (x - 1)) === 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks an untrusted value and returns a normalized spec holding exactly the four fields, plus
 * `kPerMap` when it is not 1 (extra fields are ignored so an envelope can carry more). Throws `JobSpecError` naming the
 * first offending field, e.g. `job spec: /tile: must divide n (n = 100)`.
 */
export function validateJobSpec(value: unknown): MatmulJobSpec {
  if (!isRecord(value)) throw new JobSpecError("/", "must be an object");
  const { n, tile, mode, seed, kPerMap } = value;
  if (typeof n !== "number" || !Number.isInteger(n)) {
    throw new JobSpecError("/n", "must be an integer");
  }
  if (n < 1 || n > MAX_N) throw new JobSpecError("/n", `must be between 1 and ${MAX_N}`);
  if (typeof tile !== "number" || !Number.isInteger(tile)) {
    throw new JobSpecError("/tile", "must be an integer");
  }
  if (tile < MIN_TILE || tile > MAX_TILE || !isPowerOfTwo(tile)) {
    throw new JobSpecError("/tile", `must be a power of two between ${MIN_TILE} and ${MAX_TILE}`);
  }
  if (n % tile !== 0) throw new JobSpecError("/tile", `must divide n (n = ${n})`);
  if (mode !== "exact" && mode !== "float" && mode !== "empty") {
    throw new JobSpecError("/mode", 'must be "exact", "float" or "empty"');
  }
  if (typeof seed !== "number" || !Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new JobSpecError("/seed", `must be an integer between 0 and ${MAX_SEED} (uint32)`);
  }
  if (kPerMap === undefined || kPerMap === 1) return { n, tile, mode, seed };
  const K = n / tile;
  if (typeof kPerMap !== "number" || !Number.isInteger(kPerMap) || kPerMap < 1) {
    throw new JobSpecError("/kPerMap", "must be a positive integer");
  }
  if (K % kPerMap !== 0) {
    throw new JobSpecError("/kPerMap", `must divide the tiles per side n/tile (${K})`);
  }
  if (kPerMap * tile * tile > MAX_MAP_OPERAND_ELEMENTS) {
    throw new JobSpecError(
      "/kPerMap",
      `kPerMap·tile² = ${kPerMap * tile * tile} exceeds ${MAX_MAP_OPERAND_ELEMENTS} (a map's packed operand would pass 256 MiB)`,
    );
  }
  return { n, tile, mode, seed, kPerMap };
}

/** Number of tiles along one side (K = n / tile). Assumes a validated spec. */
export function tilesPerSide(spec: MatmulJobSpec): number {
  return spec.n / spec.tile;
}

/** Inner tiles per map (1 unless the spec says otherwise). */
export function kPerMapOf(spec: MatmulJobSpec): number {
  return spec.kPerMap ?? 1;
}

/** Partials one reduce sums = maps per output tile: K / kPerMap. Assumes a validated spec. */
export function partialsPerReduce(spec: MatmulJobSpec): number {
  return spec.n / spec.tile / kPerMapOf(spec);
}

/**
 * Packed map operand size `autoKPerMap` stays within: 2^24 float32 elements (64 MiB). Measured on
 * the 2-core box (test/e2e/README.md, `pnpm bench e2e-matmul --n 8192 --k-per-map D`): tile 2048
 * was fastest at D = 4 (2^24) and tile 1024 ran the same at D = 4 and 8 (2^22, 2^23), each well
 * ahead of D = 1; an agent running two such maps holds 256 MiB of packed operands.
 */
export const AUTO_MAP_OPERAND_ELEMENTS = 2 ** 24;

/**
 * The kPerMap clients choose when the user does not: the largest divisor d of K = n / tile with
 * d·tile² ≤ AUTO_MAP_OPERAND_ELEMENTS (1 when even one tile is larger). Fewer, larger maps pay the
 * per-task costs (a durable partial write with fsync, two commits) once per d inner products; the
 * K² output tiles still give the parallelism. Assumes n and tile passed validation.
 */
export function autoKPerMap(n: number, tile: number): number {
  const K = n / tile;
  let best = 1;
  for (let d = 1; d <= K; d++) {
    if (K % d === 0 && d * tile * tile <= AUTO_MAP_OPERAND_ELEMENTS) best = d;
  }
  return best;
}

/**
 * Largest magnitude m of an exact-mode input element: m = floor(sqrt((2^24 − 1) / n)).
 * Every element of C (and every partial sum of any order) is a sum of at most n products
 * each bounded by m², so |·| ≤ n·m² ≤ 2^24 − 1 and is an integer float32 represents exactly.
 */
export function exactElementBound(n: number): number {
  let m = Math.floor(Math.sqrt((2 ** 24 - 1) / n));
  // Guard against sqrt rounding up across an integer boundary.
  while (n * m * m > 2 ** 24 - 1) m -= 1;
  return m;
}
