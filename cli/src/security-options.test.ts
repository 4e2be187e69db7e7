import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { apiCa, CliError } from "./client.js";
import {
  checkApiTlsFiles,
  natsConnectError,
  resolveApiTls,
  resolveClusterTls,
  resolveNatsSecurity,
} from "./security-options.js";

describe("the CLI's security options", () => {
  it("take a flag over its variable, and the dev cluster's settings only when neither is set", () => {
    const env = { TESSERA_NATS_USER: "env-user", TESSERA_NATS_PASSWORD_FILE: "/env/pw" };
    expect(resolveNatsSecurity({ natsUser: "flag-user" }, env)).toEqual({
      user: "flag-user",
      passwordFile: "/env/pw",
    });
    const devCluster = { tlsCaFile: "/dev/ca.pem" };
    expect(resolveNatsSecurity({}, {}, devCluster)).toEqual(devCluster);
    expect(resolveNatsSecurity({}, env, devCluster)).toEqual({
      user: "env-user",
      passwordFile: "/env/pw",
    });
  });

  it("refuse settings that cannot work together as a usage error naming the flag", () => {
    const err = (() => {
      try {
        resolveNatsSecurity({ natsUser: "u" }, {});
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as Error).message).toBe("--nats-password-file: is required with --nats-user");
    expect(() => resolveClusterTls({ clusterTlsCa: "/ca" }, {})).toThrow(
      /^--cluster-tls-cert: is required/,
    );
    expect(
      resolveClusterTls(
        { clusterTlsCa: "/ca" },
        {
          TESSERA_CLUSTER_TLS_CERT: "/c",
          TESSERA_CLUSTER_TLS_KEY: "/k",
        },
      ),
    ).toEqual({ caFile: "/ca", certFile: "/c", keyFile: "/k" });
    expect(resolveClusterTls({}, {})).toBeUndefined();
  });

  it("report a refused login by itself, and any other connect failure as the address's", () => {
    const refused = Object.assign(new Error("NATS at tls://n:4222 refused this connection: x"), {
      code: "TESSERA_E_MESSAGING_AUTH",
    });
    expect(natsConnectError(refused).message).toBe(refused.message);
    const down = Object.assign(new Error("cannot connect to NATS at nats://n:4222"), {
      code: "TESSERA_E_MESSAGING_CONNECT",
    });
    expect(natsConnectError(down).message).toBe(`--nats: ${down.message}`);
  });

  it("take the API's certificate and key together, and check its files before anything starts", async () => {
    expect(resolveApiTls({}, {})).toBeUndefined();
    expect(resolveApiTls({ apiTlsCert: "/c" }, { TESSERA_API_TLS_KEY: "/k" })).toEqual({
      certFile: "/c",
      keyFile: "/k",
    });
    expect(() => resolveApiTls({ apiTlsCert: "/c" }, {})).toThrow(
      /^--api-tls-key: is required with --api-tls-cert/,
    );
    const dir = await mkdtemp(join(tmpdir(), "tessera-cli-tls-"));
    try {
      await writeFile(join(dir, "junk.pem"), "not a certificate\n");
      const junk = join(dir, "junk.pem");
      expect(() => checkApiTlsFiles({ certFile: junk, keyFile: junk })).toThrow(
        /^--api-tls-cert: .*junk\.pem is not a PEM certificate/,
      );
      // The clients' CA: the flag, else $TESSERA_API_CA (named when it is the variable's).
      expect(apiCa(undefined, {})).toBeUndefined();
      expect(() => apiCa(undefined, { TESSERA_API_CA: junk })).toThrow(
        /^--api-ca \(\$TESSERA_API_CA\): .*junk\.pem is not a PEM certificate/,
      );
      expect(() => apiCa(junk, {})).toThrow(/^--api-ca: /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
