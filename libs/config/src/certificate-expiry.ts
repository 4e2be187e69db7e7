/**
 * Which certificate files a process was given (NATS TLS, the peers' mutual TLS, its HTTPS
 * certificate, the API's CA), by the flag that named each, and when each expires: what every
 * process reports as `tessera_tls_certificate_expiry_timestamp_seconds{flag}` and warns about at
 * start. An agent in another cloud may hold NATS certificates of its own, so each process
 * reports its own files.
 */
import { API_CA_FLAG, API_TLS_FLAGS, type ApiTlsFiles } from "./api-tls.js";
import { CLUSTER_TLS_FLAGS, type ClusterTlsFiles } from "./cluster-tls.js";
import { NATS_SECURITY_FLAGS, type NatsSecurity } from "./nats-security.js";
import { certificateNotAfter, type FlagFailure, readCertificateFile } from "./pem-files.js";

/** The TLS settings a process may hold; any may be absent. */
export interface CertificateSettings {
  readonly natsSecurity?: NatsSecurity;
  readonly clusterTls?: ClusterTlsFiles | undefined;
  readonly apiTls?: ApiTlsFiles | undefined;
  readonly apiCaFile?: string | undefined;
}

export interface CertificateExpiry {
  readonly flag: string;
  readonly path: string;
  /** ms since the epoch. */
  readonly notAfter: number;
}

/** Each certificate file of `settings`, by its flag (keys and secrets are not certificates). */
export function certificateFiles(settings: CertificateSettings): { flag: string; path: string }[] {
  const files: [string, string | undefined][] = [
    [CLUSTER_TLS_FLAGS.caFile, settings.clusterTls?.caFile],
    [CLUSTER_TLS_FLAGS.certFile, settings.clusterTls?.certFile],
    [API_TLS_FLAGS.certFile, settings.apiTls?.certFile],
    [API_CA_FLAG, settings.apiCaFile],
    [NATS_SECURITY_FLAGS.tlsCaFile, settings.natsSecurity?.tlsCaFile],
    [NATS_SECURITY_FLAGS.tlsCertFile, settings.natsSecurity?.tlsCertFile],
  ];
  return files.flatMap(([flag, path]) => (path === undefined ? [] : [{ flag, path }]));
}

/** When each certificate file of `settings` expires (each read and checked, naming its flag). */
export function certificateExpiries(
  settings: CertificateSettings,
  fail: FlagFailure,
): CertificateExpiry[] {
  return certificateFiles(settings).map(({ flag, path }) => ({
    flag,
    path,
    notAfter: certificateNotAfter(readCertificateFile(flag, path, fail)),
  }));
}
