// Operand layout of a map that sums d inner products, Σ_x A_x·B_x: one GEMM over an inner
// dimension of d·tile computes exactly that sum, A's tiles side by side ([tile, d·tile]) times
// B's tiles stacked ([d·tile, tile]). One larger GEMM instead of d GEMMs and a summing pass: the
// partial products never leave the kernel, and the result is stored once.

/** A(i,k0) | A(i,k1) | …: row r of the packed operand is row r of each tile in turn. */
export function packSideBySide(
  tiles: readonly Float32Array[],
  tile: number,
  into: Float32Array = new Float32Array(tile * tile * tiles.length),
): Float32Array {
  const width = tile * tiles.length;
  tiles.forEach((t, x) => {
    for (let r = 0; r < tile; r++) {
      into.set(t.subarray(r * tile, (r + 1) * tile), r * width + x * tile);
    }
  });
  return into;
}

/** B(k0,j) over B(k1,j) over …: the tiles one after another (row-major stacking). */
export function packStacked(
  tiles: readonly Float32Array[],
  tile: number,
  into: Float32Array = new Float32Array(tile * tile * tiles.length),
): Float32Array {
  tiles.forEach((t, x) => {
    into.set(t, x * tile * tile);
  });
  return into;
}
