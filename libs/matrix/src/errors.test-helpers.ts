import { MatrixError } from "./errors.js";

/** Runs `fn`, which must throw a MatrixError, and returns that error (fails the test otherwise). */
export function thrown(fn: () => unknown): MatrixError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MatrixError) return err;
    throw new Error(`expected a MatrixError, got ${String(err)}`);
  }
  throw new Error("expected the call to throw");
}
