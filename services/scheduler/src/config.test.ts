import { describe, expect, it } from "vitest";
import { parseSchedulerConfig } from "./config.js";

const parse = (argv: string[], env: Record<string, string> = {}) =>
  parseSchedulerConfig(argv, env, { instanceId: "scheduler-1" });

describe("scheduler config", () => {
  it("requires --consensus and names the flag", () => {
    expect(() => parse([])).toThrow(/--consensus: is required/);
  });

  it("parses peers, pools and policy knobs with defaults", () => {
    const c = parse([
      "--consensus",
      "http://127.0.0.1:8001,http://127.0.0.1:8002,127.0.0.1:7003",
      "--pool",
      "cpu,gpu",
      "--placement",
      "locality",
      "--data-location",
      "aws/us-east-1",
      "--speculation-factor",
      "2",
      "--deadline-factor",
      "5",
    ]);
    expect(c.consensus).toEqual([
      "http://127.0.0.1:8001",
      "http://127.0.0.1:8002",
      "127.0.0.1:7003",
    ]);
    expect(c.pools).toEqual(["cpu", "gpu"]);
    expect(c.placement).toBe("locality");
    expect(c.dataLocation).toEqual({ cloud: "aws", region: "us-east-1" });
    expect(c.deadlines).toMatchObject({ speculationFactor: 2, deadlineFactor: 5, minSamples: 3 });
    expect(c.natsUrl).toEqual(["nats://127.0.0.1:4222"]);
    expect(c.instanceId).toBe("scheduler-1");
  });

  it("reads the environment when a flag is absent", () => {
    const c = parse([], { TESSERA_CONSENSUS: "127.0.0.1:7001", TESSERA_PLACEMENT: "least-loaded" });
    expect(c.placement).toBe("least-loaded");
  });

  it("rejects bad values with the reason", () => {
    const base = ["--consensus", "127.0.0.1:7001"];
    expect(() => parse([...base, "--placement", "random"])).toThrow(
      /--placement: "random" must be one of least-loaded, capacity-weighted, locality/,
    );
    expect(() => parse(["--consensus", "ftp://x"])).toThrow(/--consensus: "ftp:\/\/x" must be/);
    expect(() => parse([...base, "--speculation-factor", "5", "--deadline-factor", "4"])).toThrow(
      /--speculation-factor: must be below --deadline-factor/,
    );
    expect(() => parse([...base, "--retry-base-ms", "100", "--retry-max-ms", "10"])).toThrow(
      /--retry-max-ms/,
    );
    expect(() => parse([...base, "--data-location", "aws"])).toThrow(/<cloud>\/<region>/);
    expect(() => parse([...base, "--bogus", "1"])).toThrow(/flags:/);
  });
});
