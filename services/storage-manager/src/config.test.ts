import { describe, expect, it } from "vitest";
import { parseStorageManagerConfig } from "./config.js";

describe("parseStorageManagerConfig", () => {
  it("applies defaults, flags over env", () => {
    const c = parseStorageManagerConfig(["--storage", "fs:/d"], { TESSERA_NATS_URL: "nats://h:1" });
    expect(c).toMatchObject({
      natsUrl: "nats://h:1",
      storage: "fs:/d",
      http: "127.0.0.1:9400",
      checkMode: "head",
      keepPartials: false,
      verifyRounds: 2,
    });
    const d = parseStorageManagerConfig(
      [
        "--storage",
        "s3:bucket/p",
        "--keep-partials",
        "--check-mode",
        "full",
        "--http",
        "0.0.0.0:0",
      ],
      { TESSERA_STORAGE: "fs:/ignored" },
    );
    expect(d).toMatchObject({
      storage: "s3:bucket/p",
      keepPartials: true,
      checkMode: "full",
      http: "0.0.0.0:0",
    });
    expect(
      parseStorageManagerConfig([], { TESSERA_STORAGE: "fs:/e", TESSERA_KEEP_PARTIALS: "1" })
        .keepPartials,
    ).toBe(true);
  });

  it("secures its HTTP API with --api-tls-cert/-key and --api-token-file, or their variables", () => {
    const argv = ["--storage", "fs:/d"];
    expect(parseStorageManagerConfig(argv, {})).toMatchObject({
      apiTls: undefined,
      apiTokenFile: undefined,
    });
    const env = {
      TESSERA_API_TLS_CERT: "/s/c.pem",
      TESSERA_API_TLS_KEY: "/s/k.pem",
      TESSERA_API_TOKEN_FILE: "/s/token",
    };
    expect(parseStorageManagerConfig(argv, env)).toMatchObject({
      apiTls: { certFile: "/s/c.pem", keyFile: "/s/k.pem" },
      apiTokenFile: "/s/token",
    });
    expect(() => parseStorageManagerConfig([...argv, "--api-tls-cert", "/s/c.pem"], {})).toThrow(
      /--api-tls-key: is required with --api-tls-cert/,
    );
  });

  it("names the flag and the reason", () => {
    expect(() => parseStorageManagerConfig([], {})).toThrow(/--storage: is required/);
    expect(() => parseStorageManagerConfig(["--storage", "ftp:x"], {})).toThrow(
      /--storage: "ftp:x" must be fs:/,
    );
    expect(() => parseStorageManagerConfig(["--storage", "fs:/d", "--http", "nope"], {})).toThrow(
      /--http: "nope" must be host:port/,
    );
    expect(() =>
      parseStorageManagerConfig(["--storage", "fs:/d", "--check-mode", "deep"], {}),
    ).toThrow(/--check-mode/);
    expect(() =>
      parseStorageManagerConfig(["--storage", "fs:/d", "--verify-rounds", "0"], {}),
    ).toThrow(/--verify-rounds: "0" must be an integer between 1 and 64/);
    expect(() => parseStorageManagerConfig(["--storage", "fs:/d", "--bogus"], {})).toThrow(
      /flags:/,
    );
    expect(() =>
      parseStorageManagerConfig(["--storage", "fs:/d", "--nats", "http://x"], {}),
    ).toThrow(/--nats/);
  });
});
