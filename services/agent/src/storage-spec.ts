// `--storage` → a @tessera/storage config object. Endpoints and credentials come from the
// environment (never from flags, which show up in `ps`); storage validates the result.
import { AgentError, AgentErrorCode } from "./errors.js";

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
  throw new AgentError(
    AgentErrorCode.Config,
    `--storage: ${JSON.stringify(spec)} must be fs:<dir>, s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]`,
  );
}
