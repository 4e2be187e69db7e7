// Secured NATS, for real: a nats-server that requires TLS with client certificates (mutual TLS)
// and a user's password, with a throwaway CA made by openssl.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsSecurity } from "@tessera/config";
import {
  makeTestPki,
  mutualTls,
  type NatsServer,
  startNatsServer,
  type TestPki,
} from "@tessera/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "./connection.js";
import { MessagingError } from "./errors.js";

let pki: TestPki;
let server: NatsServer;
let dir: string;
let good: NatsSecurity;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await mkdtemp(join(tmpdir(), "tessera-nats-secrets-"));
  await writeFile(join(dir, "password"), "s3cret\n");
  await writeFile(join(dir, "wrong-password"), "guess\n");
  await writeFile(join(dir, "empty"), "");
  server = await startNatsServer({
    jetstream: false,
    security: {
      tls: mutualTls(pki),
      users: [{ user: "tessera", password: "s3cret" }],
    },
  });
  good = {
    user: "tessera",
    passwordFile: join(dir, "password"),
    tlsCaFile: pki.caFile,
    tlsCertFile: pki.clientCertFile,
    tlsKeyFile: pki.clientKeyFile,
  };
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await pki?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function refusal(security: NatsSecurity): Promise<MessagingError> {
  const err = await connect({
    servers: server.url,
    name: "test-secured",
    connectTimeoutMs: 20_000,
    security,
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MessagingError);
  return err as MessagingError;
}

describe("connect to a server that requires TLS and credentials", () => {
  it("connects with the CA, a client certificate and the user's password, and carries messages", async () => {
    expect(server.url).toMatch(/^tls:\/\//);
    const nc = await connect({ servers: server.url, name: "test-secured", security: good });
    const sub = nc.subscribe("t.secure", { max: 1 });
    nc.publish("t.secure", "over tls");
    for await (const m of sub) expect(m.string()).toBe("over tls");
    await nc.close();
  });

  it("fails at once, not after the whole connect budget, when the password is wrong", async () => {
    const t0 = Date.now();
    const err = await refusal({ ...good, passwordFile: join(dir, "wrong-password") });
    expect(err.code).toBe("TESSERA_E_MESSAGING_AUTH");
    expect(err.message).toMatch(/refused this connection: .*check the NATS credentials/i);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("fails at once when the server's certificate does not chain to the CA given", async () => {
    const err = await refusal({ ...good, tlsCaFile: pki.otherCaFile });
    expect(err.code).toBe("TESSERA_E_MESSAGING_AUTH");
    expect(err.message).toContain("--nats-tls-ca");
  });

  it("is refused without a client certificate, and without TLS at all", async () => {
    const { tlsCertFile: _c, tlsKeyFile: _k, ...noClientCert } = good;
    const noCert = await connect({
      servers: server.url,
      name: "test-no-cert",
      connectTimeoutMs: 2_000,
      security: noClientCert,
    }).catch((e: unknown) => e);
    expect(noCert).toBeInstanceOf(MessagingError);
    const plain = await connect({
      servers: server.url.replace("tls://", "nats://"),
      name: "test-plain",
      connectTimeoutMs: 2_000,
      security: { user: good.user, passwordFile: good.passwordFile },
    }).catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(MessagingError);
  });

  it("names the flag when a file cannot be used, before any connect attempt", async () => {
    const bad = async (security: NatsSecurity, message: string) => {
      const err = await refusal(security);
      expect(err.code).toBe("TESSERA_E_MESSAGING_SECURITY_CONFIG");
      expect(err.message).toContain(message);
    };
    await bad({ ...good, passwordFile: join(dir, "missing") }, "--nats-password-file: cannot read");
    await bad({ ...good, passwordFile: join(dir, "empty") }, "--nats-password-file:");
    await bad({ ...good, tlsCaFile: join(dir, "password") }, "--nats-tls-ca: ");
    await bad({ ...good, tlsKeyFile: pki.clientCertFile }, "--nats-tls-key: ");
    await bad({ credsFile: join(dir, "password") }, "--nats-creds: ");
  });
});
