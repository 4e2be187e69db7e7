import { describe, expect, it } from "vitest";
import { CliError } from "./client.js";
import { jobStorage, storageEnv } from "./job-storage.js";

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
    const env = { TESSERA_STORAGE: "fs:/y" };
    expect(await jobStorage(c, "job-1", "fs:/x", env, undefined)).toEqual({
      spec: "fs:/x",
      from: "--storage",
      env,
    });
    expect(await jobStorage(c, "job-1", undefined, env, undefined)).toEqual({
      spec: "fs:/y",
      from: "TESSERA_STORAGE",
      env,
    });
    expect(c.asked).toEqual([]);
  });

  it("otherwise finds it from the URI of the job's first output tile", async () => {
    const c = clusterWith(written);
    expect(await jobStorage(c, "job-1", undefined, {}, undefined)).toEqual({
      spec: "s3:bucket/run-7",
      from: "manifest",
      env: {},
    });
    expect(c.asked).toEqual(["/v1/jobs/job-1/tasks/r-0-0"]);
  });

  it("falls back past a manifest that has no output for the job yet", async () => {
    const dev = { storage: "fs:/dev", s3: undefined };
    const none = await jobStorage(clusterWith(null), "job-1", undefined, {}, dev);
    expect(none).toEqual({ spec: "fs:/dev", from: "dev cluster", env: {} });
    const elsewhere = await jobStorage(
      clusterWith("s3://bucket/jobs/job-2/C/0-0.tile"),
      "job-1",
      undefined,
      {},
      undefined,
    );
    expect(elsewhere).toBeUndefined();
  });
});

describe("the environment a job's storage is opened with", () => {
  const s3 = { endpoint: "http://127.0.0.1:9", bucket: "tessera-dev", pid: 1, directory: "/d" };

  it("reaches the dev cluster's own local S3 when nothing else configures S3", () => {
    expect(storageEnv("s3:tessera-dev", { HOME: "/h" }, { s3 })).toEqual({
      HOME: "/h",
      TESSERA_S3_ENDPOINT: "http://127.0.0.1:9",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
    });
  });

  it("leaves an S3 the operator configured, another bucket and other backends alone", () => {
    const own = { TESSERA_S3_ENDPOINT: "http://minio:9000" };
    expect(storageEnv("s3:tessera-dev", own, { s3 })).toBe(own);
    const aws = { AWS_REGION: "eu-west-1" };
    expect(storageEnv("s3:tessera-dev", aws, { s3 })).toBe(aws);
    expect(storageEnv("s3:other/prefix", {}, { s3 })).toEqual({});
    expect(storageEnv("fs:/x", {}, { s3 })).toEqual({});
    expect(storageEnv("s3:tessera-dev", {}, undefined)).toEqual({});
  });
});
