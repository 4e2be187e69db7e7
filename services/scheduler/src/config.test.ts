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

  it("prefetch is auto (window 50 ms) unless a number is given; the window needs auto", () => {
    const peers = ["--consensus", "http://127.0.0.1:8001"];
    expect(parse(peers).prefetch).toEqual({ windowMs: 50 });
    expect(parse([...peers, "--prefetch-window-ms", "200"]).prefetch).toEqual({ windowMs: 200 });
    expect(parse([...peers, "--prefetch", "0"]).prefetch).toEqual({ fixed: 0 });
    expect(parse(peers, { TESSERA_PREFETCH: "3" }).prefetch).toEqual({ fixed: 3 });
    expect(() => parse([...peers, "--prefetch", "many"])).toThrow(
      /--prefetch: "many" must be auto or an integer 0..1024/,
    );
    expect(() => parse([...peers, "--prefetch", "2", "--prefetch-window-ms", "10"])).toThrow(
      /--prefetch-window-ms: applies only with --prefetch auto/,
    );
  });

  it("promotes standbys unless --promote-standby off", () => {
    const peers = ["--consensus", "http://127.0.0.1:8001"];
    expect(parse(peers).promoteStandby).toBe(true);
    expect(parse([...peers, "--promote-standby", "off"]).promoteStandby).toBe(false);
    expect(parse(peers, { TESSERA_PROMOTE_STANDBY: "off" }).promoteStandby).toBe(false);
    expect(() => parse([...peers, "--promote-standby", "maybe"])).toThrow(
      /--promote-standby: "maybe" must be on or off/,
    );
  });

  it("arms reduces unless --arm-reduces off", () => {
    const peers = ["--consensus", "http://127.0.0.1:8001"];
    expect(parse(peers).armReduces).toBe(true);
    expect(parse([...peers, "--arm-reduces", "off"]).armReduces).toBe(false);
    expect(parse(peers, { TESSERA_ARM_REDUCES: "off" }).armReduces).toBe(false);
    expect(() => parse([...peers, "--arm-reduces", "1"])).toThrow(
      /--arm-reduces: "1" must be on or off/,
    );
  });

  it("reads the environment when a flag is absent", () => {
    const c = parse([], { TESSERA_CONSENSUS: "127.0.0.1:7001", TESSERA_PLACEMENT: "least-loaded" });
    expect(c.placement).toBe("least-loaded");
  });

  it("serves /healthz /readyz /metrics over HTTPS with --api-tls-cert and --api-tls-key", () => {
    const base = ["--consensus", "127.0.0.1:7001"];
    expect(parse(base).apiTls).toBeUndefined();
    expect(
      parse([...base, "--api-tls-cert", "/s/c.pem"], { TESSERA_API_TLS_KEY: "/s/k.pem" }).apiTls,
    ).toEqual({ certFile: "/s/c.pem", keyFile: "/s/k.pem" });
    expect(() => parse([...base, "--api-tls-key", "/s/k.pem"])).toThrow(
      /--api-tls-cert: is required with --api-tls-key/,
    );
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
