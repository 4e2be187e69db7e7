import { readFileSync } from "node:fs";
import { makeTestPki, type TestPki } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateExpiries, certificateFiles } from "./certificate-expiry.js";
import { certificateNotAfter } from "./pem-files.js";

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(async () => {
  await pki?.remove();
});

const fail = (flag: string, reason: string): never => {
  throw new Error(`--${flag}: ${reason}`);
};

describe("a process's certificate files and their expiry", () => {
  it("lists every certificate it holds by flag, never a key", () => {
    const files = certificateFiles({
      natsSecurity: { tlsCaFile: "/n/ca", tlsCertFile: "/n/crt", tlsKeyFile: "/n/key" },
      clusterTls: { caFile: "/c/ca", certFile: "/c/crt", keyFile: "/c/key" },
      apiTls: { certFile: "/a/crt", keyFile: "/a/key" },
      apiCaFile: "/a/ca",
    });
    expect(files.map((f) => `${f.flag}=${f.path}`)).toEqual([
      "cluster-tls-ca=/c/ca",
      "cluster-tls-cert=/c/crt",
      "api-tls-cert=/a/crt",
      "api-ca=/a/ca",
      "nats-tls-ca=/n/ca",
      "nats-tls-cert=/n/crt",
    ]);
    expect(certificateFiles({})).toEqual([]);
  });

  it("reads when each expires, and names the flag of one it cannot read", () => {
    const [e] = certificateExpiries(
      { apiTls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile } },
      fail,
    );
    expect(e).toEqual({
      flag: "api-tls-cert",
      path: pki.serverCertFile,
      notAfter: certificateNotAfter(readFileSync(pki.serverCertFile, "utf8")),
    });
    expect(() => certificateExpiries({ apiCaFile: "/nonexistent/ca.crt" }, fail)).toThrow(
      /--api-ca: cannot read \/nonexistent\/ca\.crt/,
    );
  });
});
