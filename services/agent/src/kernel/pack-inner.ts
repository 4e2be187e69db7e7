// Operand layout of a map that sums d inner products, Σ_x A_x·B_x: one GEMM over an inner
// dimension of d·tile computes exactly that sum, A's tiles side by side ([tile, d·tile]) times
// B's tiles stacked ([d·tile, tile]). One larger GEMM instead of d GEMMs and a summing pass: the
// partial products never leave the kernel, and the result is stored once.
//
// The same layout serves the float32 GEMM (float32 tiles) and the 8-bit one (tiles already in
// its operand form, int8-operands.ts): packing is a copy of like into like.

/** Tiles that can be packed: float32, or the 8-bit kernel's uint8 (A) and int8 (B) operands. */
export type PackTile = Float32Array | Uint8Array | Int8Array;

/** A(i,k0) | A(i,k1) | …: row r of the packed operand is row r of each tile in turn. */
export function packSideBySide(tiles: readonly Float32Array[], tile: number): Float32Array;
export function packSideBySide<T extends PackTile>(tiles: readonly T[], tile: number, into: T): T;
export function packSideBySide(
  tiles: readonly PackTile[],
  tile: number,
  into: PackTile = new Float32Array(tile * tile * tiles.length),
): PackTile {
  const width = tile * tiles.length;
  tiles.forEach((t, x) => {
    for (let r = 0; r < tile; r++) {
      into.set(t.subarray(r * tile, (r + 1) * tile), r * width + x * tile);
    }
  });
  return into;
}

/** B(k0,j) over B(k1,j) over …: the tiles one after another (row-major stacking). */
export function packStacked(tiles: readonly Float32Array[], tile: number): Float32Array;
export function packStacked<T extends PackTile>(tiles: readonly T[], tile: number, into: T): T;
export function packStacked(
  tiles: readonly PackTile[],
  tile: number,
  into: PackTile = new Float32Array(tile * tile * tiles.length),
): PackTile {
  tiles.forEach((t, x) => {
    into.set(t, x * tile * tile);
  });
  return into;
}
