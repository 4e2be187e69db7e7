import { describe, expect, it } from "vitest";
import { readServiceFlags } from "./service-flags.js";

class TestConfigError extends Error {}
const table = {
  values: {
    nats: "T_NATS",
    slots: "T_SLOTS",
    ratio: "T_RATIO",
    name: "T_NAME",
    "log-level": "T_LOG",
  },
  switches: { "ship-logs": "T_SHIP" },
};
const read = (argv: string[], env: Record<string, string> = {}) =>
  readServiceFlags(argv, env, table, (m) => new TestConfigError(m));

describe("service flags", () => {
  it("takes a flag over its environment variable over the default; empty env is unset", () => {
    expect(read(["--slots", "3"], { T_SLOTS: "5" }).int("slots", 2, 1, 8)).toBe(3);
    expect(read([], { T_SLOTS: "5" }).int("slots", 2, 1, 8)).toBe(5);
    expect(read([], { T_SLOTS: "" }).int("slots", 2, 1, 8)).toBe(2);
    expect(read([], { T_SHIP: "1" }).on("ship-logs")).toBe(true);
    expect(read(["--ship-logs"], { T_SHIP: "0" }).on("ship-logs")).toBe(true);
    expect(read([]).on("ship-logs")).toBe(false);
  });

  it("fails with the caller's error type, naming the flag and the reason", () => {
    const bad = (f: () => unknown, message: string | RegExp) => {
      expect(f).toThrow(TestConfigError);
      expect(f).toThrow(message);
    };
    bad(
      () => read(["--slots", "two"]).int("slots", 2, 1, 8),
      '--slots: "two" must be an integer between 1 and 8',
    );
    bad(
      () => read(["--slots", "9"]).int("slots", 2, 1, 8),
      '--slots: "9" must be an integer between 1 and 8',
    );
    bad(
      () => read(["--ratio", "1e3"]).num("ratio", 1, 0, 10),
      '--ratio: "1e3" must be a number between 0 and 10',
    );
    expect(read(["--ratio", "2.5"]).num("ratio", 1, 0, 10)).toBe(2.5);
    bad(() => read([]).str("name"), "--name: is required (or set T_NAME)");
    const token = { pattern: /^[a-z]+$/, what: "must be lowercase letters" };
    bad(
      () => read(["--name", "X1"]).str("name", undefined, token),
      '--name: "X1" must be lowercase letters',
    );
    bad(
      () => read([], { T_SHIP: "yes" }).on("ship-logs"),
      /T_SHIP: "yes" must be 0, 1, true or false/,
    );
    bad(() => read(["--slot", "1"]), /^flags: Unknown option '--slot'/);
    bad(() => read(["stray"]), /^flags: /);
  });

  it("checks NATS URLs and the log level the same way for every service", () => {
    expect(read([]).natsUrls()).toEqual(["nats://127.0.0.1:4222"]);
    expect(read(["--nats", "nats://a:4222, b:4223"]).natsUrls()).toEqual([
      "nats://a:4222",
      "b:4223",
    ]);
    expect(() => read(["--nats", "http://a:1"]).natsUrls()).toThrow(
      '--nats: "http://a:1" must look like nats://host:port (comma-separated for several)',
    );
    expect(read([], { T_LOG: "debug" }).logLevel()).toBe("debug");
    expect(() => read(["--log-level", "loud"]).logLevel()).toThrow(
      '--log-level: "loud" must be one of trace, debug, info, warn, error, fatal, silent',
    );
  });

  it("gives every NATS-speaking service the same NATS credentials and TLS flags, files only", () => {
    expect(read([]).natsSecurity()).toEqual({});
    expect(
      read(["--nats-user", "tessera", "--nats-tls-ca", "/s/ca.pem"], {
        TESSERA_NATS_PASSWORD_FILE: "/s/pw",
        TESSERA_NATS_TLS_CERT: "/s/c.pem",
        TESSERA_NATS_TLS_KEY: "/s/k.pem",
      }).natsSecurity(),
    ).toEqual({
      user: "tessera",
      passwordFile: "/s/pw",
      tlsCaFile: "/s/ca.pem",
      tlsCertFile: "/s/c.pem",
      tlsKeyFile: "/s/k.pem",
    });
    // A table without `nats` (a process that never connects) does not take them.
    const noNats = { values: { slots: "T_SLOTS" }, switches: {} };
    expect(() =>
      readServiceFlags(["--nats-creds", "x"], {}, noNats, (m) => new TestConfigError(m)),
    ).toThrow(/^flags: Unknown option '--nats-creds'/);
  });

  it("refuses NATS security settings that cannot work together, naming the flag", () => {
    const bad = (argv: string[], message: string) =>
      expect(() => read(argv).natsSecurity()).toThrow(message);
    bad(["--nats-user", "u"], "--nats-password-file: is required with --nats-user");
    bad(["--nats-password-file", "/p"], "--nats-user: is required with --nats-password-file");
    bad(
      ["--nats-creds", "/c", "--nats-token-file", "/t"],
      "--nats-token-file: cannot be combined with --nats-creds: choose one way to authenticate",
    );
    bad(
      ["--nats-user", "u", "--nats-password-file", "/p", "--nats-token-file", "/t"],
      "--nats-token-file: cannot be combined with --nats-user",
    );
    bad(["--nats-tls-cert", "/c"], "--nats-tls-key: is required with --nats-tls-cert");
    bad(["--nats-tls-key", "/k"], "--nats-tls-cert: is required with --nats-tls-key");
  });
});
