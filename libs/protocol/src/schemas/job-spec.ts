import { type Static, Type } from "@sinclair/typebox";

export const MAX_N = 2 ** 20;
export const MIN_TILE = 16;
export const MAX_TILE = 8192;

/** Largest kPerMap·tile²: a map's packed operand (float32) stays ≤ 256 MiB. */
export const MAX_MAP_OPERAND_ELEMENTS = 2 ** 26;

export const TILE_REASON = `must be a power of two between ${MIN_TILE} and ${MAX_TILE}`;

/**
 * A matrix multiplication job: C = A · B with A, B n×n, split into tile×tile blocks.
 * Cross-field rules (tile is a power of two, tile divides n, kPerMap divides n/tile) live in
 * `rules.ts` because JSON
 * Schema cannot express them.
 */
export const MatmulJobSpec = Type.Object(
  {
    n: Type.Integer({
      minimum: 1,
      maximum: MAX_N,
      errorMessage: `must be an integer in 1..${MAX_N}`,
    }),
    tile: Type.Integer({ minimum: MIN_TILE, maximum: MAX_TILE, errorMessage: TILE_REASON }),
    /** "empty": the task graph without work (control-plane load; @tessera/matrix MatmulMode). */
    mode: Type.Union([Type.Literal("exact"), Type.Literal("float"), Type.Literal("empty")], {
      errorMessage: 'must be "exact", "float" or "empty"',
    }),
    seed: Type.Integer({
      minimum: 0,
      maximum: 0xffff_ffff,
      errorMessage: "must be an unsigned 32-bit integer",
    }),
    /** Inner tiles each map sums before writing its partial (default 1; must divide n/tile). */
    kPerMap: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_N / MIN_TILE,
        errorMessage: "must be a positive integer",
      }),
    ),
  },
  { additionalProperties: false, $id: "MatmulJobSpec" },
);
export type MatmulJobSpec = Static<typeof MatmulJobSpec>;
