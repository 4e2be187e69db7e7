// Operands for the 8-bit kernel's tests: d pairs of [tile, tile] tiles of integers within ±m,
// with whole rows of A and columns of B at +m and −m (where an int16 pair sum would saturate
// first, and where a missing zero point shifts the result most) and a spread of values elsewhere.
export function exactTiles(
  d: number,
  tile: number,
  m: number,
  seed = 1,
): { as: Float32Array[]; bs: Float32Array[] } {
  let s = seed >>> 0;
  const spread = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return ((s >>> 8) % (2 * m + 1)) - m;
  };
  const edge = (line: number) => (line === 0 ? m : line === 1 ? -m : undefined);
  const as = Array.from({ length: d }, () =>
    Float32Array.from({ length: tile * tile }, (_, e) => edge(Math.floor(e / tile)) ?? spread()),
  );
  const bs = Array.from({ length: d }, () =>
    Float32Array.from({ length: tile * tile }, (_, e) => edge(e % tile) ?? spread()),
  );
  return { as, bs };
}

/** Σ_x A_x·B_x in float64 (exact for these integers). */
export function exactProduct(
  as: readonly Float32Array[],
  bs: readonly Float32Array[],
  tile: number,
): Float64Array {
  const c = new Float64Array(tile * tile);
  as.forEach((a, x) => {
    const b = bs[x] as Float32Array;
    for (let i = 0; i < tile; i++)
      for (let k = 0; k < tile; k++) {
        const aik = a[i * tile + k] as number;
        for (let j = 0; j < tile; j++)
          c[i * tile + j] = (c[i * tile + j] as number) + aik * (b[k * tile + j] as number);
      }
  });
  return c;
}
