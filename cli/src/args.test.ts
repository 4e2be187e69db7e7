import { MAX_TASK_ATTEMPTS } from "@tessera/protocol";
import { describe, expect, it } from "vitest";
import {
  hostPortArg,
  httpUrlArg,
  jobIdArg,
  MAX_ATTEMPTS_FLAG,
  maxAttemptsArg,
  nodeIdArg,
  parseDevUpArgs,
  parseMatmulArgs,
  peerIdArg,
  taskIdArg,
} from "./args.js";
import { CliError, parseServers } from "./client.js";
import {
  bytesMoved,
  finishedBefore,
  jobProgress,
  progressLine,
  submitSummary,
} from "./job-view.js";

describe("argument validation", () => {
  it("--max-attempts: absent leaves the manifest's default; out of 1..255 names the flag", () => {
    expect(MAX_ATTEMPTS_FLAG).toBe(MAX_TASK_ATTEMPTS);
    expect(maxAttemptsArg(undefined)).toBeUndefined();
    expect(maxAttemptsArg("2")).toBe(2);
    for (const bad of ["0", "256", "-1", "2.5", "two"]) {
      expect(() => maxAttemptsArg(bad)).toThrow(CliError);
      expect(() => maxAttemptsArg(bad)).toThrow(
        /^--max-attempts: .* must be an integer between 1 and 255$/,
      );
    }
  });

  it("parses matmul flags with defaults", () => {
    // kPerMap defaults to auto: the largest divisor of n/tile with kPerMap·tile² ≤ 2^24.
    expect(parseMatmulArgs({ n: "256", tile: "64" })).toEqual({
      n: 256,
      tile: 64,
      mode: "exact",
      seed: 1,
      kPerMap: 4,
    });
    expect(parseMatmulArgs({ n: "4096" })).toEqual({
      n: 4096,
      tile: 1024,
      mode: "exact",
      seed: 1,
      kPerMap: 4,
    });
    expect(parseMatmulArgs({ n: "8192", tile: "2048", kPerMap: "auto" })).toMatchObject({
      kPerMap: 4,
    });
    // One tile already fills the bound: auto is 1, which the canonical spec leaves out.
    expect(parseMatmulArgs({ n: "8192", tile: "4096" })).not.toHaveProperty("kPerMap");
    expect(parseMatmulArgs({ n: "1024" })).not.toHaveProperty("kPerMap");
    expect(parseMatmulArgs({ n: "64", mode: "float", seed: "9" })).toMatchObject({
      tile: 64,
      mode: "float",
      seed: 9,
    });
  });
  it("rejects bad matmul flags with exit code 2 and the flag's name", () => {
    const bad = (o: Record<string, string>, re: RegExp) => {
      try {
        parseMatmulArgs(o);
        throw new Error("accepted");
      } catch (err) {
        expect(err).toBeInstanceOf(CliError);
        expect((err as CliError).exitCode).toBe(2);
        expect((err as Error).message).toMatch(re);
      }
    };
    bad({}, /--n: is required/);
    bad({ n: "abc" }, /--n: "abc" must be an integer/);
    bad({ n: "100", tile: "64" }, /--tile: 64 must divide --n 100/);
    bad({ n: "96", tile: "48" }, /--tile: 48 must be a power of two/);
    bad({ n: "64", tile: "64", mode: "fuzzy" }, /--mode: "fuzzy" must be exact, float or empty/);
    bad({ n: "64", seed: "-1" }, /--seed/);
    bad(
      { n: "256", tile: "64", kPerMap: "3" },
      /--k-per-map: 3 must divide the tiles per side n\/tile = 4/,
    );
    bad(
      { n: "256", tile: "64", kPerMap: "8" },
      /--k-per-map: "8" must be auto or an integer between 1 and 4/,
    );
    bad({ n: "256", tile: "64", kPerMap: "0" }, /--k-per-map/);
    bad(
      { n: "256", tile: "64", kPerMap: "Auto" },
      /--k-per-map: "Auto" must be auto or an integer/,
    );
  });
  it("passes --k-per-map into the spec only when it is not 1", () => {
    expect(parseMatmulArgs({ n: "256", tile: "64", kPerMap: "2" })).toEqual({
      n: 256,
      tile: 64,
      mode: "exact",
      seed: 1,
      kPerMap: 2,
    });
    expect(parseMatmulArgs({ n: "256", tile: "64", kPerMap: "1" })).not.toHaveProperty("kPerMap");
  });
  it("parses dev up flags", () => {
    expect(parseDevUpArgs({})).toEqual({
      peers: 3,
      agents: 2,
      schedulers: 1,
      storage: "fs",
      nats: undefined,
      data: undefined,
      restart: false,
    });
    expect(
      parseDevUpArgs({
        peers: "1",
        agents: "0",
        schedulers: "2",
        storage: "s3",
        nats: "nats://h:4222",
        restart: true,
      }),
    ).toMatchObject({
      peers: 1,
      agents: 0,
      schedulers: 2,
      storage: "s3",
      restart: true,
    });
    expect(() => parseDevUpArgs({ peers: "0" })).toThrow(
      /--peers: "0" must be an integer between 1 and 7/,
    );
    expect(() => parseDevUpArgs({ schedulers: "5" })).toThrow(
      /--schedulers: "5" must be an integer between 1 and 4/,
    );
    expect(() => parseDevUpArgs({ storage: "nfs" })).toThrow(
      /--storage: "nfs" must be fs, s3 or gcs/,
    );
    expect(() => parseDevUpArgs({ nats: "http://x" })).toThrow(/--nats/);
  });
  it("validates ids and servers", () => {
    expect(jobIdArg("job-7")).toBe("job-7");
    expect(() => jobIdArg("a/b")).toThrow(/JOB/);
    expect(taskIdArg("m-0-1-2")).toBe("m-0-1-2");
    expect(taskIdArg("r-3-4")).toBe("r-3-4");
    expect(() => taskIdArg("r-3")).toThrow(
      '--task: "r-3" must be m-<i>-<j>-<k> (a map) or r-<i>-<j>',
    );
    expect(() => nodeIdArg("a.b")).toThrow(/NODE/);
    expect(parseServers("127.0.0.1:8001, http://h:1/")).toEqual([
      "http://127.0.0.1:8001",
      "http://h:1",
    ]);
    expect(() => parseServers("ftp://x")).toThrow(/must be an http\(s\) URL/);
    expect(() => parseServers(",")).toThrow(/at least one URL/);
  });

  it("validates consensus membership arguments (exit 2, naming the argument)", () => {
    expect(peerIdArg("--to", "3")).toBe(3);
    expect(() => peerIdArg("--to", "0")).toThrow('--to: "0" must be an integer between 1');
    expect(hostPortArg("--grpc", "10.0.0.4:7004")).toBe("10.0.0.4:7004");
    for (const bad of ["nohost", "h:0", "h:70000", "http://h:1", "h :1"]) {
      expect(() => hostPortArg("--grpc", bad)).toThrow(/^--grpc: .* must be host:port/);
    }
    expect(() => hostPortArg("--grpc", undefined)).toThrow("--grpc: is required");
    expect(httpUrlArg("--http", "http://10.0.0.4:8004/")).toBe("http://10.0.0.4:8004");
    try {
      httpUrlArg("--http", "10.0.0.4:8004");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CliError);
      expect(err).toMatchObject({ exitCode: 2, message: expect.stringMatching(/^--http: /) });
    }
  });
});

describe("job view → progress and the --json summary", () => {
  const view = {
    jobId: "job-7",
    spec: { n: 256, tile: 64, mode: "exact", seed: 1 },
    state: "succeeded",
    outputDigest: "ab".repeat(32),
    failure: null,
    counts: {
      tasks: 80,
      maps: 64,
      reduces: 16,
      mapsDone: 64,
      reducesDone: 16,
      done: 80,
      failed: 0,
      liveAttempts: 0,
    },
  };
  it("reads counts and computes bytes moved", () => {
    const p = jobProgress(view);
    expect(p).toMatchObject({
      jobId: "job-7",
      terminal: true,
      tasks: 80,
      done: 80,
      attempts: 80,
      verified: null,
    });
    const tb = 64 + 64 * 64 * 4;
    expect(bytesMoved(p)).toBe(64 * 3 * tb + 16 * 5 * tb);
    // Maps of 2 inner tiles read 4 tiles each; reduces read K/2 = 2 partials.
    const grouped = jobProgress({ ...view, spec: { ...view.spec, kPerMap: 2 } });
    expect(grouped.kPerMap).toBe(2);
    expect(bytesMoved({ ...grouped, mapsDone: 32 })).toBe(32 * 5 * tb + 16 * 3 * tb);
    expect(progressLine(p, 2)).toMatch(
      /^\[#{28}\] 80\/80 tasks {2}[\d.]+ GFLOP\/s {2}4\.5 MB moved {2}ETA 0\.0s {2}succeeded$/,
    );
  });
  it("has exactly the documented keys", () => {
    const s = submitSummary(jobProgress(view), 2, true, view.outputDigest);
    expect(Object.keys(s).sort()).toEqual(
      [
        "attempts",
        "bytesMoved",
        "digest",
        "gflops",
        "jobId",
        "status",
        "tasks",
        "verified",
        "wallSeconds",
      ].sort(),
    );
    expect(s).toMatchObject({
      jobId: "job-7",
      status: "succeeded",
      verified: true,
      wallSeconds: 2,
      tasks: 80,
    });
    expect(s.gflops).toBeCloseTo((2 * 256 ** 3) / 2 / 1e9, 3);
  });
  it("tolerates a sparse view", () => {
    expect(jobProgress({})).toMatchObject({ state: "unknown", terminal: false, tasks: 0 });
  });
  it("finishedBefore picks finished jobs at or before the cutoff, oldest first", () => {
    const views = [
      { jobId: "new", state: "succeeded", finishedAt: 5_000 },
      { jobId: "running", state: "running", finishedAt: null },
      { jobId: "old", state: "failed", finishedAt: 1_000 },
      { jobId: "edge", state: "cancelled", finishedAt: 3_000 },
      { jobId: "odd", state: "succeeded" },
      null,
    ];
    expect(finishedBefore(views, 3_000)).toEqual([
      { jobId: "old", state: "failed", finishedAt: 1_000 },
      { jobId: "edge", state: "cancelled", finishedAt: 3_000 },
    ]);
    expect(finishedBefore(views, 999)).toEqual([]);
  });
});
