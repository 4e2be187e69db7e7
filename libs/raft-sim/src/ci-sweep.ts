/**
 * Flags of the CI seed sweep (`pnpm sim --seeds 2000 ...` plus these). Kept in one place so the
 * vitest sweep and the CI command cannot drift apart.
 */
export const CI_SWEEP_ARGS: readonly string[] = ["--steps", "1000", "--workers", "2"];
