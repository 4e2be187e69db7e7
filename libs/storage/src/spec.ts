// `--storage fs:<dir> | s3:<bucket>[/<prefix>] | gcs:<bucket>[/<prefix>]` → a storage config object
// for createObjectStore (which validates it). One grammar for every service's flag. Endpoints and
// credentials come from the environment (never from flags, which show up in `ps`).
import { fileURLToPath } from "node:url";
import { StorageConfigError } from "./errors.js";

/** A syntactically valid `--storage` value (checked by config loaders before start-up). */
export const STORAGE_SPEC_PATTERN =
  /^(fs:.+|s3:[a-z0-9][a-z0-9.-]{1,62}(\/.*)?|gcs:[a-z0-9][a-z0-9._-]{1,221}(\/.*)?)$/;

export function storageConfigFromSpec(
  spec: string,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, unknown> {
  const colon = spec.indexOf(":");
  const scheme = spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  if (scheme === "fs" && rest !== "") {
    return { backend: "fs", root: rest, ...(fsDirectIo(env) ? { directIo: true } : {}) };
  }
  if (scheme === "s3" || scheme === "gcs") {
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    let prefix = slash < 0 ? "" : rest.slice(slash + 1);
    if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
    const withPrefix = prefix ? { prefix } : {};
    if (scheme === "s3") {
      const endpoint = env.TESSERA_S3_ENDPOINT;
      return {
        backend: "s3",
        bucket,
        ...withPrefix,
        ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}),
        // Self-hosted S3 (MinIO, s3rver) wants path-style addressing.
        ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      };
    }
    const apiEndpoint = env.TESSERA_GCS_ENDPOINT;
    return { backend: "gcs", bucket, ...withPrefix, ...(apiEndpoint ? { apiEndpoint } : {}) };
  }
  throw new StorageConfigError(
    "--storage",
    `${JSON.stringify(spec)} must be fs:<dir>, s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]`,
  );
}

/**
 * TESSERA_FS_DIRECT_IO: O_DIRECT for the fs backend's large objects (fs/direct-io.ts). On unless
 * set to 0: whole jobs measured faster with it on two VMs (libs/storage README, "Direct I/O").
 */
function fsDirectIo(env: Readonly<Record<string, string | undefined>>): boolean {
  const v = env.TESSERA_FS_DIRECT_IO;
  if (v === "0" || v === "off" || v === "false") return false;
  if (v === undefined || v === "" || v === "1" || v === "on" || v === "true") return true;
  throw new StorageConfigError(
    "TESSERA_FS_DIRECT_IO",
    `must be 1 or 0 (on/off), got ${JSON.stringify(v)}`,
  );
}

/**
 * The `--storage` spec of the store that holds an object, from the object's URI (as a store's
 * `uri(key)` writes it: `file://`, `s3://`, `gs://`) and its key. Undefined when the URI does not
 * end with the key or has another scheme. Lets a client reach the storage a job's outputs were
 * written to from the manifest alone (endpoints and credentials still come from the environment).
 */
export function storageSpecOfObjectUri(uri: string, key: string): string | undefined {
  if (key === "" || !uri.endsWith(key)) return undefined;
  const base = uri.slice(0, uri.length - key.length);
  if (base.startsWith("file://")) {
    let root: string;
    try {
      root = fileURLToPath(base);
    } catch {
      return undefined;
    }
    return `fs:${root.length > 1 ? root.replace(/\/+$/, "") : root}`;
  }
  for (const [scheme, name] of [
    ["s3://", "s3"],
    ["gs://", "gcs"],
  ] as const) {
    if (!base.startsWith(scheme)) continue;
    const spec = `${name}:${base.slice(scheme.length).replace(/\/+$/, "")}`;
    return STORAGE_SPEC_PATTERN.test(spec) ? spec : undefined;
  }
  return undefined;
}
