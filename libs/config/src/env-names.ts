/** Property paths ↔ environment variable names (pure). */

/** `natsUrl` → `NATS_URL`; `maxInFlight2` → `MAX_IN_FLIGHT2`. */
export function toSnake(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toUpperCase();
}

/** `nats-tls-ca` → `natsTlsCa`: a kebab-case flag as a config-file key or commander option. */
export function flagToCamel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** `["storage", "rootDir"]` with prefix `TESSERA_` → `TESSERA_STORAGE__ROOT_DIR`. */
export function envVarName(path: readonly string[], prefix: string): string {
  return prefix + path.map(toSnake).join("__");
}
