// The files flags name, read with failures that name the flag: here the certificates' validity
// window, against a CA made by openssl (valid for two days from now).
import { readFileSync } from "node:fs";
import { makeTestPki, type TestPki } from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateNotAfter, readCertificateFile } from "./pem-files.js";

let pki: TestPki;
const fail = (flag: string, reason: string): never => {
  throw new Error(`--${flag}: ${reason}`);
};
const DAY_MS = 86_400_000;

beforeAll(async () => {
  pki = await makeTestPki();
}, 60_000);
afterAll(async () => {
  await pki?.remove();
});

describe("certificate files", () => {
  it("are read while valid, and refused naming the flag and the date outside their window", () => {
    const pem = readCertificateFile("api-tls-cert", pki.serverCertFile, fail);
    expect(pem).toBe(readFileSync(pki.serverCertFile, "utf8"));
    const notAfter = certificateNotAfter(pem);
    // openssl -days 2: about two days from now (second resolution).
    expect(Math.abs(notAfter - (Date.now() + 2 * DAY_MS))).toBeLessThan(10 * 60_000);
    expect(() =>
      readCertificateFile("api-tls-cert", pki.serverCertFile, fail, notAfter + 1),
    ).toThrow(
      `--api-tls-cert: ${pki.serverCertFile} expired on ${new Date(notAfter).toISOString()}`,
    );
    expect(() =>
      readCertificateFile("nats-tls-ca", pki.caFile, fail, Date.now() - 3 * DAY_MS),
    ).toThrow(/^--nats-tls-ca: .* is not valid before \d{4}-\d\d-\d\dT/);
  });
});
