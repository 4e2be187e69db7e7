import { describe, expect, it, vi } from "vitest";
import type { Logger } from "./logger.js";
import { reportTileBufferMalloc } from "./tile-buffer-malloc.js";

describe("reportTileBufferMalloc", () => {
  it("names the missing settings once, at info; says nothing when none is missing", () => {
    const info = vi.fn();
    const log = { info } as unknown as Logger;
    reportTileBufferMalloc(log, []);
    expect(info).not.toHaveBeenCalled();
    reportTileBufferMalloc(log, ["GLIBC_TUNABLES=glibc.malloc.hugetlb=1"]);
    expect(info).toHaveBeenCalledTimes(1);
    expect(info.mock.calls[0]?.[0]).toEqual({ missing: ["GLIBC_TUNABLES=glibc.malloc.hugetlb=1"] });
  });
});
