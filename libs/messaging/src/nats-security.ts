/**
 * Turns the NATS security settings (@tessera/config NatsSecurity: file paths) into nats.js
 * connection options, reading and checking every file first so that a missing file, an empty
 * password or a key that is not PEM fails at start-up with the flag's name, instead of as
 * connect attempts that fail the same way until the connect budget runs out.
 */
import {
  type Authenticator,
  credsAuthenticator,
  type TlsOptions,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from "@nats-io/nats-core";
import {
  NATS_SECURITY_FLAGS,
  type NatsSecurity,
  readCertificateFile,
  readFlagFile,
  readPrivateKeyFile,
  readSecretFile,
} from "@tessera/config";
import { MessagingError } from "./errors.js";

export interface NatsSecurityOptions {
  readonly authenticator?: Authenticator;
  readonly tls?: TlsOptions;
}

function fail(flag: string, reason: string, cause?: unknown): never {
  throw new MessagingError(
    "TESSERA_E_MESSAGING_SECURITY_CONFIG",
    `--${flag}: ${reason}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The authenticator and TLS options for `sec`. `requireTls` (a `tls://` server URL) asks for TLS
 * even without a CA or client certificate: the server's certificate is then checked against the
 * system's trusted CAs, and a server that does not offer TLS is refused.
 */
export function natsSecurityOptions(sec: NatsSecurity, requireTls: boolean): NatsSecurityOptions {
  const f = NATS_SECURITY_FLAGS;
  let authenticator: Authenticator | undefined;
  if (sec.credsFile !== undefined) {
    const creds = readFlagFile(f.credsFile, sec.credsFile, fail);
    if (
      !/-----BEGIN NATS USER JWT-----/.test(creds) ||
      !/-----BEGIN USER NKEY SEED-----/.test(creds)
    )
      fail(
        f.credsFile,
        `${sec.credsFile} is not a NATS credentials file (a user JWT and its NKey seed)`,
      );
    authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  } else if (sec.user !== undefined && sec.passwordFile !== undefined) {
    authenticator = usernamePasswordAuthenticator(
      sec.user,
      readSecretFile(f.passwordFile, sec.passwordFile, fail),
    );
  } else if (sec.tokenFile !== undefined) {
    authenticator = tokenAuthenticator(readSecretFile(f.tokenFile, sec.tokenFile, fail));
  }
  const tls: { ca?: string; cert?: string; key?: string } = {};
  if (sec.tlsCaFile !== undefined) tls.ca = readCertificateFile(f.tlsCaFile, sec.tlsCaFile, fail);
  if (sec.tlsCertFile !== undefined)
    tls.cert = readCertificateFile(f.tlsCertFile, sec.tlsCertFile, fail);
  if (sec.tlsKeyFile !== undefined)
    tls.key = readPrivateKeyFile(f.tlsKeyFile, sec.tlsKeyFile, fail);
  const wantsTls = requireTls || Object.keys(tls).length > 0;
  return {
    ...(authenticator ? { authenticator } : {}),
    ...(wantsTls ? { tls } : {}),
  };
}
