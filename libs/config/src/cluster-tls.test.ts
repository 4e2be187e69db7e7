import { describe, expect, it } from "vitest";
import {
  CLUSTER_TLS_ENV,
  CLUSTER_TLS_HELP,
  clusterTlsEnv,
  parseClusterTls,
} from "./cluster-tls.js";

const fail = (flag: string, reason: string): never => {
  throw new Error(`--${flag}: ${reason}`);
};
const parse = (values: Record<string, string>) => parseClusterTls((f) => values[f], fail);

describe("cluster TLS settings", () => {
  it("are all three files or none", () => {
    expect(parse({})).toBeUndefined();
    const files = { caFile: "/t/ca.crt", certFile: "/t/tls.crt", keyFile: "/t/tls.key" };
    expect(
      parse({
        "cluster-tls-ca": "/t/ca.crt",
        "cluster-tls-cert": "/t/tls.crt",
        "cluster-tls-key": "/t/tls.key",
      }),
    ).toEqual(files);
    expect(() =>
      parse({ "cluster-tls-ca": "/t/ca.crt", "cluster-tls-cert": "/t/tls.crt" }),
    ).toThrow(/^--cluster-tls-key: is required with the other --cluster-tls-… settings/);
    expect(() => parse({ "cluster-tls-key": "/t/tls.key" })).toThrow(/^--cluster-tls-ca: /);
    expect(clusterTlsEnv(files)).toEqual({
      TESSERA_CLUSTER_TLS_CA: "/t/ca.crt",
      TESSERA_CLUSTER_TLS_CERT: "/t/tls.crt",
      TESSERA_CLUSTER_TLS_KEY: "/t/tls.key",
    });
    expect(clusterTlsEnv(undefined)).toEqual({});
  });

  it("documents every flag and its environment variable in the help text", () => {
    for (const [flag, env] of Object.entries(CLUSTER_TLS_ENV)) {
      expect(CLUSTER_TLS_HELP).toMatch(new RegExp(`--${flag} .*env ${env}$`, "m"));
    }
  });
});
