import { defineConfig } from "vitest/config";

// Every package runs its own tests from source: the "development" export condition points
// workspace imports at src/*.ts, so a test never runs against a stale dist/.
// Processes that tests spawn (agents, crash children) run the built dist/ instead.
export default defineConfig({
  resolve: { conditions: ["development"] },
  ssr: { resolve: { conditions: ["development"] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false,
  },
});
