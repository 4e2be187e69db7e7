import { describe, expect, it } from "vitest";
import { CliError } from "./client.js";
import { jobStorage } from "./job-storage.js";

/** A cluster whose manifest says job-1's C(0,0) was written to `uri` (or knows no such task). */
function clusterWith(uri: string | null) {
  const asked: string[] = [];
  return {
    asked,
    get: async (path: string) => {
      asked.push(path);
      if (uri === null) throw new CliError('task "r-0-0" of job "job-1" does not exist');
      return { taskId: "r-0-0", output: { uri, checksum: "00000000", bytes: 1 } };
    },
  };
}

describe("where a job's outputs are stored", () => {
  const written = "s3://bucket/run-7/jobs/job-1/C/0-0.tile";

  it("takes --storage, then TESSERA_STORAGE, over what the manifest says", async () => {
    const c = clusterWith(written);
    expect(await jobStorage(c, "job-1", "fs:/x", { TESSERA_STORAGE: "fs:/y" })).toEqual({
      spec: "fs:/x",
      from: "--storage",
    });
    expect(await jobStorage(c, "job-1", undefined, { TESSERA_STORAGE: "fs:/y" })).toEqual({
      spec: "fs:/y",
      from: "TESSERA_STORAGE",
    });
    expect(c.asked).toEqual([]);
  });

  it("otherwise finds it from the URI of the job's first output tile", async () => {
    const c = clusterWith(written);
    expect(await jobStorage(c, "job-1", undefined, {})).toEqual({
      spec: "s3:bucket/run-7",
      from: "manifest",
    });
    expect(c.asked).toEqual(["/v1/jobs/job-1/tasks/r-0-0"]);
  });

  it("falls back past a manifest that has no output for the job yet", async () => {
    const none = await jobStorage(clusterWith(null), "job-1", undefined, {});
    expect(none?.from).not.toBe("manifest");
    const elsewhere = await jobStorage(
      clusterWith("s3://bucket/jobs/job-2/C/0-0.tile"),
      "job-1",
      undefined,
      {},
    );
    expect(elsewhere?.from).not.toBe("manifest");
  });
});
