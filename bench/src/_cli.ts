// Shared by the bench entry points (the leading `_` keeps this file out of `pnpm bench` names).

/** A bad command-line flag: the bench prints the reason and exits 2. */
export class FlagError extends Error {
  readonly code = "TESSERA_E_BENCH_FLAG";
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
