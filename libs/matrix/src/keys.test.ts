import { describe, expect, it } from "vitest";
import { MatrixErrorCode } from "./errors.js";
import { thrown } from "./errors.test-helpers.js";
import {
  datasetId,
  inputKey,
  inputKeyA,
  inputKeyB,
  outputKey,
  partialKey,
  partialKeysOfReduce,
} from "./keys.js";
import type { MatmulJobSpec } from "./spec.js";

const spec: MatmulJobSpec = { n: 4096, tile: 1024, mode: "exact", seed: 7 };

describe("storage keys (contracts.md)", () => {
  it("spells dataset, input, partial and output keys exactly", () => {
    expect(datasetId(spec)).toBe("mm-exact-n4096-t1024-s7");
    expect(inputKeyA(spec, 1, 2)).toBe("datasets/mm-exact-n4096-t1024-s7/A/1-2.tile");
    expect(inputKeyB(spec, 2, 3)).toBe("datasets/mm-exact-n4096-t1024-s7/B/2-3.tile");
    expect(inputKey(spec, "B", 2, 3)).toBe(inputKeyB(spec, 2, 3));
    expect(partialKey("job-1", 1, 2, 3)).toBe("jobs/job-1/partials/1-2-3.tile");
    expect(outputKey("job-1", 0, 3)).toBe("jobs/job-1/C/0-3.tile");
  });

  it("input keys depend on the spec only, never on the job", () => {
    expect(datasetId({ ...spec, mode: "float" })).toBe("mm-float-n4096-t1024-s7");
    expect(datasetId({ ...spec, seed: 8 })).not.toBe(datasetId(spec));
  });

  it("lists a reduce's partials in summation order", () => {
    expect(partialKeysOfReduce("j", spec, 2, 1)).toEqual([
      "jobs/j/partials/2-1-0.tile",
      "jobs/j/partials/2-1-1.tile",
      "jobs/j/partials/2-1-2.tile",
      "jobs/j/partials/2-1-3.tile",
    ]);
    // With 2 inner tiles per map, a reduce reads K/2 partials; inputs stay shared with kPerMap 1.
    expect(partialKeysOfReduce("j", { ...spec, kPerMap: 2 }, 2, 1)).toEqual([
      "jobs/j/partials/2-1-0.tile",
      "jobs/j/partials/2-1-1.tile",
    ]);
    expect(inputKeyA({ ...spec, kPerMap: 2 }, 1, 2)).toBe(inputKeyA(spec, 1, 2));
  });

  it("rejects job ids that are not safe key segments", () => {
    for (const bad of ["", "..", ".", "a/b", "x".repeat(65), "sp ace", "ünï"]) {
      expect(thrown(() => outputKey(bad, 0, 0)).code).toBe(MatrixErrorCode.JobIdInvalid);
      expect(thrown(() => partialKey(bad, 0, 0, 0)).code).toBe(MatrixErrorCode.JobIdInvalid);
      expect(thrown(() => partialKeysOfReduce(bad, spec, 0, 0)).code).toBe(
        MatrixErrorCode.JobIdInvalid,
      );
    }
    expect(outputKey("A.b_c-9", 0, 0)).toBe("jobs/A.b_c-9/C/0-0.tile");
  });
});
