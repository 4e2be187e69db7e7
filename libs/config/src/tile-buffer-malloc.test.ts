import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  MALLOC_HUGE_PAGES_TUNABLE,
  missingTileBufferMalloc,
  TILE_BUFFER_MALLOC_ENV,
  withTileBufferMalloc,
} from "./tile-buffer-malloc.js";

describe("withTileBufferMalloc", () => {
  it("adds every setting to an environment that has none", () => {
    expect(withTileBufferMalloc({ PATH: "/bin" })).toEqual({
      PATH: "/bin",
      ...TILE_BUFFER_MALLOC_ENV,
    });
  });

  it("keeps what the caller set, and appends hugetlb to other tunables instead of replacing them", () => {
    const env = withTileBufferMalloc({
      MALLOC_MMAP_THRESHOLD_: "1048576",
      GLIBC_TUNABLES: "glibc.cpu.x86_rep_movsb_threshold=4096",
    });
    expect(env.MALLOC_MMAP_THRESHOLD_).toBe("1048576");
    expect(env.GLIBC_TUNABLES).toBe(
      `glibc.cpu.x86_rep_movsb_threshold=4096:${MALLOC_HUGE_PAGES_TUNABLE}`,
    );
    expect(withTileBufferMalloc({ GLIBC_TUNABLES: "glibc.malloc.hugetlb=0" }).GLIBC_TUNABLES).toBe(
      "glibc.malloc.hugetlb=0",
    );
  });
});

describe("missingTileBufferMalloc", () => {
  it("names each setting a process started without; another value is a choice, not missing", () => {
    expect(missingTileBufferMalloc({}, "linux")).toEqual(
      Object.entries(TILE_BUFFER_MALLOC_ENV).map(([name, value]) => `${name}=${value}`),
    );
    expect(missingTileBufferMalloc(withTileBufferMalloc({}))).toEqual([]);
    expect(
      missingTileBufferMalloc({
        MALLOC_MMAP_THRESHOLD_: "1",
        MALLOC_TRIM_THRESHOLD_: "1",
        GLIBC_TUNABLES: "glibc.malloc.hugetlb=0",
      }),
    ).toEqual([]);
    expect(
      missingTileBufferMalloc({ ...TILE_BUFFER_MALLOC_ENV, GLIBC_TUNABLES: "glibc.cpu.x=1" }),
    ).toEqual([`GLIBC_TUNABLES=${MALLOC_HUGE_PAGES_TUNABLE}`]);
    expect(missingTileBufferMalloc({}, "darwin")).toEqual([]);
  });
});

/** The kernel's transparent-huge-page mode ("always", "madvise", "never"), if it has one. */
function thpMode(): string | undefined {
  try {
    const text = readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8");
    return /\[(\w+)\]/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

/** AnonHugePages (KiB) of a Node process that filled one 64 MiB buffer, started with `env`. */
function hugePagesOfTileBuffer(env: NodeJS.ProcessEnv): number {
  const script = `
    const b = Buffer.allocUnsafe(64 * 1024 * 1024);
    b.fill(1);
    const m = /AnonHugePages:\\s+(\\d+) kB/.exec(require("fs").readFileSync("/proc/self/smaps_rollup", "utf8"));
    process.stdout.write(String(m ? m[1] : -1) + " " + b[12345]);`;
  const out = execFileSync(process.execPath, ["-e", script], { env, encoding: "utf8" });
  return Number(out.split(" ")[0]);
}

// Only where the kernel hands out huge pages on request (madvise mode, this VM's and CI's):
// "always" gives them without the tunable, "never" not at all.
describe.runIf(process.platform === "linux" && thpMode() === "madvise")(
  "a process started with the settings",
  () => {
    it("backs its tile buffers with transparent huge pages, where the default does not", () => {
      const plain = { PATH: process.env.PATH };
      expect(hugePagesOfTileBuffer(plain)).toBe(0);
      // 64 MiB filled: most of it in 2 MiB pages (glibc's own alignment may leave the ends in 4 KiB).
      expect(hugePagesOfTileBuffer(withTileBufferMalloc(plain))).toBeGreaterThanOrEqual(32 * 1024);
    });
  },
);
