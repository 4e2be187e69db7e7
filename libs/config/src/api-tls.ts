/**
 * HTTPS on the consensus peers' HTTP API, so its bearer token (and job control) never crosses a
 * network in the clear. A peer started with `--api-tls-cert` + `--api-tls-key` serves HTTPS and
 * hands out its fellows' addresses as `https://…` (a cluster's peers serve their API the same
 * way; the storage-manager, schedulers and agents serve their own HTTP endpoints with the same
 * flags). Clients verify the peer's certificate against the system's roots, or against the CA that
 * `--api-ca` names (a private CA, e.g. the one of `--cluster-tls-ca`). The server's files are
 * read where the server is made; `readApiCa` reads and checks the clients' CA.
 */
import { type FlagFailure, readCertificateFile, readPrivateKeyFile } from "./pem-files.js";

/** Paths of the certificate the peer's HTTP API presents and of its key: both, or none. */
export interface ApiTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export const API_TLS_FLAGS: Readonly<Record<keyof ApiTlsFiles, string>> = {
  certFile: "api-tls-cert",
  keyFile: "api-tls-key",
};

/** Flag → its environment variable. */
export const API_TLS_ENV: Readonly<Record<string, string>> = {
  "api-tls-cert": "TESSERA_API_TLS_CERT",
  "api-tls-key": "TESSERA_API_TLS_KEY",
};

/** The clients' side: the CA that signed the peers' API certificate. */
export const API_CA_FLAG = "api-ca";
export const API_CA_ENV = "TESSERA_API_CA";

export const API_TLS_HELP = `  --api-tls-cert FILE      PEM certificate: serve the HTTP API over HTTPS      env TESSERA_API_TLS_CERT
  --api-tls-key FILE       PEM key of that certificate                        env TESSERA_API_TLS_KEY`;

export const API_CA_HELP = `  --api-ca FILE            PEM CA that signed the peers' HTTPS certificate     env TESSERA_API_CA
                           (default: the system's trusted roots)`;

/** The two settings, or undefined when neither is set; one without the other is an error. */
export function parseApiTls(
  raw: (flag: string) => string | undefined,
  fail: (flag: string, reason: string) => never,
): ApiTlsFiles | undefined {
  const cert = raw(API_TLS_FLAGS.certFile);
  const key = raw(API_TLS_FLAGS.keyFile);
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined) fail(API_TLS_FLAGS.certFile, "is required with --api-tls-key");
  if (key === undefined) fail(API_TLS_FLAGS.keyFile, "is required with --api-tls-cert");
  return { certFile: cert, keyFile: key };
}

/** The environment a child process needs to serve or reach the API the same way (`dev up`). */
export function apiTlsEnv(
  files: ApiTlsFiles | undefined,
  caFile: string | undefined,
): Record<string, string> {
  return {
    ...(files
      ? {
          [API_TLS_ENV[API_TLS_FLAGS.certFile] as string]: files.certFile,
          [API_TLS_ENV[API_TLS_FLAGS.keyFile] as string]: files.keyFile,
        }
      : {}),
    ...(caFile !== undefined ? { [API_CA_ENV]: caFile } : {}),
  };
}

/** The scheme of a peer's API URL: `https` when it serves TLS. */
export function apiScheme(files: ApiTlsFiles | undefined): "http" | "https" {
  return files ? "https" : "http";
}

/** The server's certificate and key (PEM), checked, for a server about to listen. */
export function readApiTlsPair(
  files: ApiTlsFiles,
  fail: FlagFailure,
): { readonly cert: string; readonly key: string } {
  return {
    cert: readCertificateFile(API_TLS_FLAGS.certFile, files.certFile, fail),
    key: readPrivateKeyFile(API_TLS_FLAGS.keyFile, files.keyFile, fail),
  };
}

/** The PEM of the `--api-ca` file, checked (a certificate), or undefined without one. */
export function readApiCa(path: string | undefined, fail: FlagFailure): string | undefined {
  return path === undefined ? undefined : readCertificateFile(API_CA_FLAG, path, fail);
}
