/**
 * Mutual TLS on the consensus peers' gRPC port (Raft between peers and the `tessera.manifest.v1`
 * API the scheduler proposes through): each peer presents its certificate and requires one from
 * whoever connects, both signed by the cluster's CA. The same three settings on the peers and on
 * the scheduler. Pure: the files are read where the credentials are made
 * (@tessera/consensus `loadClusterTls`).
 */

/** Paths of the cluster CA, this process's certificate and its key: all three, or none. */
export interface ClusterTlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export const CLUSTER_TLS_FLAGS: Readonly<Record<keyof ClusterTlsFiles, string>> = {
  caFile: "cluster-tls-ca",
  certFile: "cluster-tls-cert",
  keyFile: "cluster-tls-key",
};

/** Flag → its environment variable. */
export const CLUSTER_TLS_ENV: Readonly<Record<string, string>> = {
  "cluster-tls-ca": "TESSERA_CLUSTER_TLS_CA",
  "cluster-tls-cert": "TESSERA_CLUSTER_TLS_CERT",
  "cluster-tls-key": "TESSERA_CLUSTER_TLS_KEY",
};

export const CLUSTER_TLS_HELP = `  --cluster-tls-ca FILE    PEM CA of the cluster: mutual TLS on the peers' gRPC  env TESSERA_CLUSTER_TLS_CA
  --cluster-tls-cert FILE  PEM certificate this process presents (with the key) env TESSERA_CLUSTER_TLS_CERT
  --cluster-tls-key FILE   PEM key of that certificate                        env TESSERA_CLUSTER_TLS_KEY`;

/** The environment a child process needs to use the same files (`tessera dev up`). */
export function clusterTlsEnv(files: ClusterTlsFiles | undefined): Record<string, string> {
  if (!files) return {};
  const f = CLUSTER_TLS_FLAGS;
  return {
    [CLUSTER_TLS_ENV[f.caFile] as string]: files.caFile,
    [CLUSTER_TLS_ENV[f.certFile] as string]: files.certFile,
    [CLUSTER_TLS_ENV[f.keyFile] as string]: files.keyFile,
  };
}

/** The three settings, or undefined when none is set; some but not all is an error. */
export function parseClusterTls(
  raw: (flag: string) => string | undefined,
  fail: (flag: string, reason: string) => never,
): ClusterTlsFiles | undefined {
  const f = CLUSTER_TLS_FLAGS;
  const ca = raw(f.caFile);
  const cert = raw(f.certFile);
  const key = raw(f.keyFile);
  if (ca === undefined && cert === undefined && key === undefined) return undefined;
  const missing = (Object.keys(f) as (keyof ClusterTlsFiles)[]).find(
    (k) => ({ caFile: ca, certFile: cert, keyFile: key })[k] === undefined,
  );
  if (missing !== undefined) {
    fail(
      f[missing],
      `is required with the other --cluster-tls-… settings (mutual TLS needs the CA, a certificate and its key)`,
    );
  }
  return { caFile: ca as string, certFile: cert as string, keyFile: key as string };
}
