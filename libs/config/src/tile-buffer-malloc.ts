/**
 * glibc malloc settings for the processes that move tile-sized buffers (agents, storage-manager).
 * glibc reads them from the environment when a process starts, so whoever starts the process sets
 * them: `tessera dev up` (cli/src/dev-cluster.ts), the image's ENV (Dockerfile, for Compose and
 * Helm); an agent or storage-manager started by hand says at start which are missing.
 *
 * Why, measured on the 2-vCPU VM this is built on (services/agent/README.md, "Memory"):
 * - By default every multi-MiB buffer is a fresh mmap, and filling it (a read from the page cache)
 *   pays a page fault per 4 KiB: 2–4 ms of system time per 4 MiB read against 0.2 ms when such
 *   buffers come from the heap and freed memory is kept for the next tile (the two thresholds).
 * - Even from the heap, memory new to the process is faulted in 4 KiB at a time, ~10 µs each on
 *   that VM: two cold 8192² jobs at tile 2048 took 762–817k faults in their agents. With
 *   `glibc.malloc.hugetlb=1` glibc madvises what it maps as transparent huge pages: 41–44k
 *   faults, 28–34 instead of 39–47 CPU-seconds in the agents, 9–13 s instead of 12–20 s a job.
 */

/** The GLIBC_TUNABLES entry that makes malloc madvise its memory as transparent huge pages. */
export const MALLOC_HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1";

const HUGETLB_TUNABLE = "glibc.malloc.hugetlb";

export const TILE_BUFFER_MALLOC_ENV: Readonly<Record<string, string>> = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: String(32 * 1024 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(512 * 1024 * 1024),
  GLIBC_TUNABLES: MALLOC_HUGE_PAGES_TUNABLE,
});

/** Whether a GLIBC_TUNABLES value (colon-separated `name=value`s) already sets hugetlb. */
function setsHugetlb(tunables: string): boolean {
  return tunables.split(":").some((entry) => entry.split("=")[0] === HUGETLB_TUNABLE);
}

/**
 * `env` with the tile-buffer settings added. What `env` already sets wins; an existing
 * GLIBC_TUNABLES without a hugetlb entry gets ours appended rather than being replaced.
 */
export function withTileBufferMalloc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...TILE_BUFFER_MALLOC_ENV, ...env };
  const tunables = env.GLIBC_TUNABLES;
  if (tunables !== undefined && tunables !== "" && !setsHugetlb(tunables)) {
    merged.GLIBC_TUNABLES = `${tunables}:${MALLOC_HUGE_PAGES_TUNABLE}`;
  }
  return merged;
}

/**
 * The tile-buffer settings this process was started without, as `NAME=value` (empty when all
 * are there, and off Linux, where glibc is not the allocator). A variable set to another value
 * counts as the operator's choice, not as missing.
 */
export function missingTileBufferMalloc(
  env: Readonly<Record<string, string | undefined>>,
  platform: NodeJS.Platform = process.platform,
): string[] {
  if (platform !== "linux") return [];
  const missing: string[] = [];
  for (const [name, value] of Object.entries(TILE_BUFFER_MALLOC_ENV)) {
    const given = env[name];
    if (name === "GLIBC_TUNABLES") {
      if (given === undefined || !setsHugetlb(given)) missing.push(`${name}=${value}`);
    } else if (given === undefined) {
      missing.push(`${name}=${value}`);
    }
  }
  return missing;
}
