import { defineConfig, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

// Whole clusters of real processes: one scenario at a time (fileParallelism is already off in
// the shared config) and longer limits than unit tests. The limits are hang guards, generous
// because a loaded 2-core box is slow; every wait inside a scenario has its own, shorter limit.
export default mergeConfig(
  shared,
  defineConfig({ test: { testTimeout: 600_000, hookTimeout: 120_000 } }),
);
