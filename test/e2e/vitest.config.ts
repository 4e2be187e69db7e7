import { defineConfig, mergeConfig } from "vitest/config";
import shared from "../../vitest.shared.ts";

// Whole clusters of real processes (nats-server, 3 consensus peers, scheduler, storage-manager,
// agents): one scenario at a time (fileParallelism is off in the shared config). The limits are
// hang guards, generous because a loaded 2-core box is slow; every wait inside a scenario has its
// own, shorter limit and says what it waited for.
export default mergeConfig(
  shared,
  defineConfig({ test: { testTimeout: 600_000, hookTimeout: 180_000 } }),
);
