import { readFileSync } from "node:fs";
import { type MatmulJobSpec, referenceProduct } from "@tessera/matrix";

/**
 * How many values of an exported .npy (128-byte header, float32 C order) differ from the
 * reference product A·B of `spec` computed here; -1 when the sizes differ.
 */
export function npyMismatchesWithReference(path: string, spec: MatmulJobSpec): number {
  const file = readFileSync(path);
  const c = new Float32Array(
    file.buffer.slice(file.byteOffset + 128, file.byteOffset + file.length),
  );
  const ref = referenceProduct(spec);
  if (c.length !== ref.length) return -1;
  return c.filter((v, x) => v !== ref[x]).length;
}
