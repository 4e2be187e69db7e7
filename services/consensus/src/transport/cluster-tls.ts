/**
 * Credentials of the consensus gRPC port: mutual TLS when the cluster has a CA (every peer and
 * every client presents a certificate signed by it, and checks the other side's), plaintext
 * otherwise. One set of files serves both roles of a peer: the server it runs and the client it
 * is to the other peers.
 */
import { isIP } from "node:net";
import { checkServerIdentity } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import {
  CLUSTER_TLS_FLAGS,
  type ClusterTlsFiles,
  readCertificateFile,
  readPrivateKeyFile,
} from "@tessera/config";
import { flagFailure } from "../api/errors.js";

/** The PEM contents, read and checked once at start-up. */
export interface ClusterTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Reads the three files; a missing or malformed one fails naming its flag. */
export function loadClusterTls(files: ClusterTlsFiles): ClusterTls {
  const f = CLUSTER_TLS_FLAGS;
  return {
    ca: Buffer.from(readCertificateFile(f.caFile, files.caFile, flagFailure)),
    cert: Buffer.from(readCertificateFile(f.certFile, files.certFile, flagFailure)),
    key: Buffer.from(readPrivateKeyFile(f.keyFile, files.keyFile, flagFailure)),
  };
}

/** The server side: with TLS, a client without a certificate of the cluster CA is refused. */
export function serverCredentials(tls: ClusterTls | undefined): grpc.ServerCredentials {
  return tls
    ? grpc.ServerCredentials.createSsl(
        tls.ca,
        [{ cert_chain: tls.cert, private_key: tls.key }],
        true,
      )
    : grpc.ServerCredentials.createInsecure();
}

/** The client side: the server's certificate must chain to the CA; ours is presented. */
function channelCredentials(tls: ClusterTls | undefined): grpc.ChannelCredentials {
  return tls
    ? grpc.credentials.createSsl(tls.ca, tls.key, tls.cert)
    : grpc.credentials.createInsecure();
}

/**
 * The server name (SNI) a TLS channel to a peer addressed by IP sends instead of the IP. grpc-js
 * sends the target's host, and Node warns for an IP there (DEP0123: RFC 6066 allows only names);
 * the peers' server does not look at SNI, and the certificate is still checked against the IP.
 */
const IP_TARGET_SERVER_NAME = "tessera-peer";

/** `host` of `host:port` or `[v6]:port`. */
function hostOf(address: string): string {
  return (/^\[([^\]]+)\]:\d+$/.exec(address) ?? /^(.*):\d+$/.exec(address))?.[1] ?? address;
}

/**
 * A channel's credentials and options for one peer address: channelCredentials, plus, for an IP
 * address over TLS, a server name that is not an IP and an identity check against that IP (what
 * grpc-js would have checked), so nothing warns and nothing is checked less.
 */
export function clusterChannel(
  address: string,
  tls: ClusterTls | undefined,
): { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions } {
  const host = hostOf(address);
  if (!tls || isIP(host) === 0) return { credentials: channelCredentials(tls), options: {} };
  return {
    credentials: grpc.credentials.createSsl(tls.ca, tls.key, tls.cert, {
      checkServerIdentity: (_serverName, cert) => checkServerIdentity(host, cert),
    }),
    options: { "grpc.ssl_target_name_override": IP_TARGET_SERVER_NAME },
  };
}
