// `tessera dev up --secure`: a local cluster with every link secured, from nothing. The secrets
// come from cli/scripts/make-secrets.sh (the script docker-compose.secure.yml runs) into
// <data>/secrets: a throwaway CA, one certificate for 127.0.0.1/localhost, the NATS password and
// the API token. The nats-server dev up starts reads a config that requires TLS with client
// certificates and that password; every process gets the same files through its variables.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  type ApiTlsFiles,
  type ClusterTlsFiles,
  type NatsSecurity,
  readSecretFile,
} from "@tessera/config";
import { CliError } from "./client.js";

const run = promisify(execFile);

/** The script, beside dist/ in the package (and at /app/cli/scripts in the image). */
const MAKE_SECRETS = fileURLToPath(new URL("../scripts/make-secrets.sh", import.meta.url));

/** The NATS user every process of a secured dev cluster logs in as. */
const NATS_USER = "tessera";

export interface DevSecrets {
  readonly natsSecurity: NatsSecurity;
  readonly clusterTls: ClusterTlsFiles;
  readonly apiTls: ApiTlsFiles;
  readonly apiCaFile: string;
  readonly apiTokenFile: string;
  /** nats-server `-c` file: TLS with client certificates, and the user's password. */
  readonly natsConfigFile: string;
}

/** Makes (or keeps, when `<dataDir>/secrets` holds them) the secrets of a secured dev cluster. */
export async function makeDevSecrets(dataDir: string): Promise<DevSecrets> {
  const dir = join(dataDir, "secrets");
  try {
    await run("sh", [MAKE_SECRETS, dir], { env: { ...process.env, OWNER: "" } });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    throw new CliError(
      `--secure: making the cluster's certificate failed (it needs the openssl command): ${(e.stderr || e.message).trim()}`,
      2,
    );
  }
  const file = (name: string) => join(dir, name);
  const password = readSecretFile("secure", file("nats-password"), (_flag, reason) => {
    throw new CliError(`--secure: ${reason}`, 2);
  });
  const natsConfigFile = file("nats-server.conf");
  // JSON strings are valid NATS config strings; the password is hex anyway.
  await writeFile(
    natsConfigFile,
    `tls {
  cert_file: ${JSON.stringify(file("tls.crt"))}
  key_file: ${JSON.stringify(file("tls.key"))}
  ca_file: ${JSON.stringify(file("ca.crt"))}
  verify: true
}
authorization {
  users: [ { user: ${JSON.stringify(NATS_USER)}, password: ${JSON.stringify(password)} } ]
}
`,
    { mode: 0o600 },
  );
  return {
    natsSecurity: {
      user: NATS_USER,
      passwordFile: file("nats-password"),
      tlsCaFile: file("ca.crt"),
      tlsCertFile: file("tls.crt"),
      tlsKeyFile: file("tls.key"),
    },
    clusterTls: { caFile: file("ca.crt"), certFile: file("tls.crt"), keyFile: file("tls.key") },
    apiTls: { certFile: file("tls.crt"), keyFile: file("tls.key") },
    apiCaFile: file("ca.crt"),
    apiTokenFile: file("api-token"),
    natsConfigFile,
  };
}
