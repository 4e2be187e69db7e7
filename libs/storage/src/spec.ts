// `--storage fs:<dir> | s3:<bucket>[/<prefix>] | gcs:<bucket>[/<prefix>]` → a storage config object
// for createObjectStore (which validates it). One grammar for every service's flag. Endpoints and
// credentials come from the environment (never from flags, which show up in `ps`).
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
  if (scheme === "fs" && rest !== "") return { backend: "fs", root: rest };
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
