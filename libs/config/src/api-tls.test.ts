import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  API_CA_ENV,
  API_CA_HELP,
  API_TLS_ENV,
  API_TLS_HELP,
  apiScheme,
  apiTlsEnv,
  parseApiTls,
  readApiCa,
} from "./api-tls.js";

const fail = (flag: string, reason: string): never => {
  throw new Error(`--${flag}: ${reason}`);
};
const parse = (values: Record<string, string>) => parseApiTls((f) => values[f], fail);

describe("HTTPS settings of the consensus HTTP API", () => {
  it("are the certificate and its key together, or neither", () => {
    expect(parse({})).toBeUndefined();
    expect(apiScheme(parse({}))).toBe("http");
    const files = parse({ "api-tls-cert": "/t/api.crt", "api-tls-key": "/t/api.key" });
    expect(files).toEqual({ certFile: "/t/api.crt", keyFile: "/t/api.key" });
    expect(apiScheme(files)).toBe("https");
    expect(() => parse({ "api-tls-cert": "/t/api.crt" })).toThrow(
      /^--api-tls-key: is required with --api-tls-cert/,
    );
    expect(() => parse({ "api-tls-key": "/t/api.key" })).toThrow(
      /^--api-tls-cert: is required with --api-tls-key/,
    );
  });

  it("are handed to child processes as variables (server files and the clients' CA)", () => {
    expect(apiTlsEnv({ certFile: "/t/api.crt", keyFile: "/t/api.key" }, "/t/ca.crt")).toEqual({
      TESSERA_API_TLS_CERT: "/t/api.crt",
      TESSERA_API_TLS_KEY: "/t/api.key",
      TESSERA_API_CA: "/t/ca.crt",
    });
    expect(apiTlsEnv(undefined, undefined)).toEqual({});
  });

  it("read the clients' CA as a checked certificate, naming --api-ca when it is not one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tessera-api-ca-"));
    try {
      await writeFile(join(dir, "not.pem"), "hello\n");
      expect(readApiCa(undefined, fail)).toBeUndefined();
      expect(() => readApiCa(join(dir, "not.pem"), fail)).toThrow(
        /^--api-ca: .*not\.pem is not a PEM certificate/,
      );
      expect(() => readApiCa(join(dir, "missing.pem"), fail)).toThrow(
        /^--api-ca: cannot read .*missing\.pem: ENOENT/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("document every flag and its environment variable in the help text", () => {
    for (const [flag, env] of Object.entries(API_TLS_ENV)) {
      expect(API_TLS_HELP).toMatch(new RegExp(`--${flag} .*env ${env}$`, "m"));
    }
    expect(API_CA_HELP).toMatch(new RegExp(`--api-ca .*env ${API_CA_ENV}$`, "m"));
  });
});
