import { describe, expect, it } from "vitest";
import { parseAgentConfig } from "./config.js";
import { AgentErrorCode } from "./errors.js";

const defaults = { nodeId: "host-1" };

describe("parseAgentConfig", () => {
  it("flags win over env, env over defaults", () => {
    const c = parseAgentConfig(
      ["--storage", "fs:/data", "--pool", "gpu", "--slots", "2", "--ep", "cpu", "--standby"],
      {
        TESSERA_POOL: "cpu",
        TESSERA_AGENT_THREADS: "4",
        TESSERA_NATS_URL: "nats://a:4222,nats://b:4222",
      },
      defaults,
    );
    expect(c).toMatchObject({
      pool: "gpu",
      slots: 2,
      threads: 4,
      ep: "cpu",
      standby: true,
      nodeId: "host-1",
      natsUrl: "nats://a:4222,nats://b:4222",
      ackWaitMs: 30_000,
      tileCacheMb: 1024,
    });
  });

  it("defaults to two slots and a 1 GiB input tile cache, both settable from the environment", () => {
    expect(parseAgentConfig(["--storage", "fs:/d"], {}, defaults)).toMatchObject({
      slots: 2,
      tileCacheMb: 1024,
    });
    const c = parseAgentConfig(
      ["--storage", "fs:/d"],
      {
        TESSERA_AGENT_SLOTS: "4",
        TESSERA_AGENT_TILE_CACHE_MB: "0",
      },
      defaults,
    );
    expect(c).toMatchObject({ slots: 4, tileCacheMb: 0 });
  });

  it("runs Map kernels on one worker thread unless --kernel-threads says otherwise (0 = JS thread)", () => {
    expect(parseAgentConfig(["--storage", "fs:/d"], {}, defaults).kernelThreads).toBe(1);
    expect(
      parseAgentConfig(["--storage", "fs:/d"], { TESSERA_AGENT_KERNEL_THREADS: "0" }, defaults)
        .kernelThreads,
    ).toBe(0);
    expect(
      parseAgentConfig(["--storage", "fs:/d", "--kernel-threads", "3"], {}, defaults).kernelThreads,
    ).toBe(3);
    expect(() =>
      parseAgentConfig(["--storage", "fs:/d"], { TESSERA_AGENT_KERNEL_THREADS: "two" }, defaults),
    ).toThrow(/--kernel-threads: "two" must be an integer between 0 and 256/);
  });

  it("runs exact-mode maps in 8 bits unless --int8 off or TESSERA_AGENT_INT8=off; other values fail naming the flag", () => {
    expect(parseAgentConfig(["--storage", "fs:/d"], {}, defaults).int8).toBe(true);
    expect(
      parseAgentConfig(["--storage", "fs:/d"], { TESSERA_AGENT_INT8: "off" }, defaults).int8,
    ).toBe(false);
    expect(parseAgentConfig(["--storage", "fs:/d", "--int8", "off"], {}, defaults).int8).toBe(
      false,
    );
    expect(() =>
      parseAgentConfig(["--storage", "fs:/d"], { TESSERA_AGENT_INT8: "yes" }, defaults),
    ).toThrow(/--int8: .*must be on or off/);
  });

  it("serves /metrics on loopback and a free port unless --http or TESSERA_AGENT_HTTP says where", () => {
    expect(parseAgentConfig(["--storage", "fs:/d"], {}, defaults).http).toEqual({
      host: "127.0.0.1",
      port: 0,
    });
    const env = { TESSERA_AGENT_HTTP: "0.0.0.0:9500" };
    expect(parseAgentConfig(["--storage", "fs:/d"], env, defaults).http).toEqual({
      host: "0.0.0.0",
      port: 9500,
    });
  });

  it("serves them over HTTPS with --api-tls-cert and --api-tls-key (or their variables), both or neither", () => {
    const argv = ["--storage", "fs:/d"];
    expect(parseAgentConfig(argv, {}, defaults).apiTls).toBeUndefined();
    const env = { TESSERA_API_TLS_CERT: "/s/c.pem", TESSERA_API_TLS_KEY: "/s/k.pem" };
    expect(parseAgentConfig(argv, env, defaults).apiTls).toEqual({
      certFile: "/s/c.pem",
      keyFile: "/s/k.pem",
    });
    expect(() => parseAgentConfig([...argv, "--api-tls-cert", "/s/c.pem"], {}, defaults)).toThrow(
      /--api-tls-key: is required with --api-tls-cert/,
    );
  });

  it("reports straight to the leader unless --direct-reports off or TESSERA_DIRECT_REPORTS=off", () => {
    const argv = ["--storage", "fs:/d"];
    expect(parseAgentConfig(argv, {}, defaults).directReports).toBe(true);
    const off = { TESSERA_DIRECT_REPORTS: "off" };
    expect(parseAgentConfig(argv, off, defaults).directReports).toBe(false);
    expect(parseAgentConfig([...argv, "--direct-reports", "on"], off, defaults).directReports).toBe(
      true,
    );
    // Early hand-overs: on by default, off by flag or environment.
    expect(parseAgentConfig(argv, {}, defaults).earlyHandover).toBe(true);
    const noEarly = { TESSERA_EARLY_HANDOVER: "off" };
    expect(parseAgentConfig(argv, noEarly, defaults).earlyHandover).toBe(false);
    expect(parseAgentConfig([...argv, "--early-handover", "off"], {}, defaults).earlyHandover).toBe(
      false,
    );
  });

  it.each([
    [["--storage", "fs:/d", "--direct-reports", "yes"], "--direct-reports"],
    [["--storage", "fs:/d", "--early-handover", "1"], "--early-handover"],
    [["--storage", "fs:/d", "--ep", "tpu"], "--ep"],
    [["--storage", "fs:/d", "--slots", "0"], "--slots"],
    [["--storage", "fs:/d", "--tile-cache-mb", "-1"], "--tile-cache-mb"],
    [["--storage", "fs:/d", "--ack-wait-ms", "10s"], "--ack-wait-ms"],
    [["--storage", "ftp:x"], "--storage"],
    [[], "--storage"],
    [["--storage", "fs:/d", "--node-id", "a.b"], "--node-id"],
    [["--storage", "fs:/d", "--nats", "http://x"], "--nats"],
    [["--storage", "fs:/d", "--bogus", "1"], "flags"],
    [["--storage", "fs:/d", "--http", "9500"], "--http"],
    [["--storage", "fs:/d", "--http", "h:70000"], "--http"],
  ])("rejects %j naming %s", (argv, flag) => {
    expect(() => parseAgentConfig(argv, {}, defaults)).toThrow(
      expect.objectContaining({
        code: AgentErrorCode.Config,
        message: expect.stringContaining(flag),
      }),
    );
  });
});
