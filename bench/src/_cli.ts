// Shared by the bench entry points (the leading `_` keeps this file out of `pnpm bench` names).

/** A bad command-line flag: the bench prints the reason and exits 2. */
export class FlagError extends Error {
  readonly code = "TESSERA_E_BENCH_FLAG";
}

/** One integer flag value in [min, max], or a FlagError naming the flag. */
export function intIn(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new FlagError(`--${name}: "${text}" must be an integer in [${min}, ${max}]`);
  }
  return n;
}

/** A comma-separated list of integers in [min, max] (`--tiles 512,1024`). */
export function intsIn(name: string, text: string, min: number, max: number): number[] {
  return text.split(",").map((x) => intIn(name, x, min, max));
}

/** Runs a bench's main: exit 0, 2 for a FlagError (reason on stderr), 1 for anything else. */
export function runBench(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof FlagError ? `${name}: ${err.message}` : err);
      process.exit(err instanceof FlagError ? 2 : 1);
    },
  );
}

/** The longest gap between consecutive times of an ascending list (0 with fewer than two). */
export function longestGap(times: readonly number[]): number {
  let longest = 0;
  for (let i = 1; i < times.length; i++) {
    longest = Math.max(longest, (times[i] ?? 0) - (times[i - 1] ?? 0));
  }
  return longest;
}
