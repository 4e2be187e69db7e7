// Benchmarks live one per file (bench/src/<name>.ts) and are run by `pnpm bench <name>`.
export {};
