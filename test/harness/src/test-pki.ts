/**
 * A throwaway certificate authority for tests of TLS links: a CA, a server certificate for
 * 127.0.0.1 / localhost (also good as a client's: a consensus peer is both) and a client
 * certificate, all signed by that CA, plus a second CA and a certificate it signed (for "a
 * certificate from elsewhere is refused"). Made with the openssl command line (Debian's
 * `openssl` package), as an operator would make them.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { registerTempDir } from "./cleanup.js";
import { HarnessError } from "./errors.js";
import type { NatsServerSecurity } from "./nats-config.js";

const run = promisify(execFile);

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A second CA: a server or client trusting only it must refuse the certificates above. */
  readonly otherCaFile: string;
  /** Like the server certificate (same names, both uses) but signed by the other CA. */
  readonly foreignCertFile: string;
  readonly foreignKeyFile: string;
  /** Removes the directory. */
  remove(): Promise<void>;
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run("openssl", [...args], { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    throw new HarnessError(
      "TESSERA_E_HARNESS_START",
      e.code === "ENOENT"
        ? "openssl not found: install it (apt install openssl)"
        : `openssl ${args[0]} failed: ${e.stderr ?? e.message}`,
    );
  }
}

/** `openssl req` arguments for a new P-256 key `<name>.key` (unencrypted) and subject CN=name. */
const newKey = (name: string) => [
  "-newkey",
  "ec",
  "-pkeyopt",
  "ec_paramgen_curve:prime256v1",
  "-nodes",
  "-keyout",
  `${name}.key`,
  "-subj",
  `/CN=${name}`,
];

async function selfSignedCa(dir: string, name: string): Promise<string> {
  await openssl(["req", "-x509", ...newKey(name), "-out", `${name}.pem`, "-days", "2"], dir);
  return join(dir, `${name}.pem`);
}

async function signed(dir: string, name: string, ext: string, ca = "ca"): Promise<void> {
  await openssl(["req", ...newKey(name), "-out", `${name}.csr`], dir);
  await writeFile(join(dir, `${name}.ext`), ext);
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ],
    dir,
  );
}

/** A server's TLS with this PKI that also requires clients to present a certificate of its CA. */
export function mutualTls(pki: TestPki): NonNullable<NatsServerSecurity["tls"]> {
  return {
    certFile: pki.serverCertFile,
    keyFile: pki.serverKeyFile,
    caFile: pki.caFile,
    verifyClients: true,
  };
}

/** Makes the CA and certificates in a new temp dir (removed at exit if `remove` is not called). */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "tessera-pki-"));
  const unregister = registerTempDir(dir);
  const caFile = await selfSignedCa(dir, "ca");
  const bothUses =
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n";
  await signed(dir, "server", bothUses);
  await signed(dir, "client", "extendedKeyUsage=clientAuth\n");
  const otherCaFile = await selfSignedCa(dir, "other-ca");
  await signed(dir, "foreign", bothUses, "other-ca");
  return {
    dir,
    caFile,
    serverCertFile: join(dir, "server.pem"),
    serverKeyFile: join(dir, "server.key"),
    clientCertFile: join(dir, "client.pem"),
    clientKeyFile: join(dir, "client.key"),
    otherCaFile,
    foreignCertFile: join(dir, "foreign.pem"),
    foreignKeyFile: join(dir, "foreign.key"),
    async remove() {
      await rm(dir, { recursive: true, force: true });
      unregister();
    },
  };
}
