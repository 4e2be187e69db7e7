/**
 * @tessera/config: the services' and the CLI's flags, variables and the files they name.
 * `loadConfig` (TypeBox schemas) is `@tessera/config/load-config`: loading TypeBox takes ~0.2 s,
 * which the CLI, needing none of it, should not pay at every command's start.
 */

export {
  API_CA_ENV,
  API_CA_FLAG,
  API_CA_HELP,
  API_TLS_ENV,
  API_TLS_FLAGS,
  API_TLS_HELP,
  type ApiTlsFiles,
  apiScheme,
  apiTlsEnv,
  parseApiTls,
  readApiCa,
  readApiTlsPair,
} from "./api-tls.js";
export {
  API_TOKEN_ENV,
  API_TOKEN_FLAG,
  API_TOKEN_HELP,
  type BearerVerdict,
  bearerHeader,
  bearerRefusal,
  bearerVerifier,
  MIN_API_TOKEN_LENGTH,
  OPEN_HTTP_PATHS,
  readApiToken,
} from "./api-token.js";
export {
  type CertificateExpiry,
  type CertificateSettings,
  certificateExpiries,
  certificateFiles,
} from "./certificate-expiry.js";
export {
  CLUSTER_TLS_ENV,
  CLUSTER_TLS_FLAGS,
  CLUSTER_TLS_HELP,
  type ClusterTlsFiles,
  clusterTlsEnv,
  parseClusterTls,
} from "./cluster-tls.js";
export { envVarName, flagToCamel, toSnake } from "./env-names.js";
export { ConfigError, type ConfigIssue, type ConfigSource } from "./errors.js";
export {
  NATS_SECURITY_ENV,
  NATS_SECURITY_FLAGS,
  NATS_SECURITY_HELP,
  type NatsSecurity,
  natsSecurityEnv,
  natsSecurityFromEnv,
  natsSecurityIsSet,
  parseNatsSecurity,
} from "./nats-security.js";
export {
  certificateNotAfter,
  type FlagFailure,
  readCertificateFile,
  readFlagFile,
  readPrivateKeyFile,
  readSecretFile,
} from "./pem-files.js";
export {
  type FlagTable,
  LOG_LEVELS,
  type LogLevel,
  readServiceFlags,
  type ServiceFlags,
} from "./service-flags.js";
export { switchSetting } from "./switch.js";
export {
  MALLOC_HUGE_PAGES_TUNABLE,
  missingTileBufferMalloc,
  TILE_BUFFER_MALLOC_ENV,
  withTileBufferMalloc,
} from "./tile-buffer-malloc.js";
