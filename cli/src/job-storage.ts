// Where a job's outputs are stored, for a client that reads them back (`tessera verify`, `job
// submit --wait` without a verdict): what the operator said (--storage, then TESSERA_STORAGE),
// else where the manifest says the job wrote its first output tile, else the storage of the dev
// cluster in the default data directory. The manifest comes before the dev cluster: `--server`
// may name another cluster than the one `tessera dev up` left its state for. Endpoints and
// credentials come from the environment, except for the local S3 a dev cluster started itself
// (`dev up --storage s3` with no S3 configured), which the dev state names.
import { outputKey, reduceTaskId } from "@tessera/matrix";
import { storageSpecOfObjectUri } from "@tessera/storage";
import { CliError, type ClusterClient } from "./client.js";
import { type DevState, localS3Env, readDevState } from "./dev-cluster.js";

export type JobStorageSource = "--storage" | "TESSERA_STORAGE" | "manifest" | "dev cluster";

export interface JobStorage {
  /** A `--storage` value: fs:<dir>, s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]. */
  readonly spec: string;
  readonly from: JobStorageSource;
  /** The environment to open it with (storageConfigFromSpec reads endpoints from it). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export async function jobStorage(
  client: Pick<ClusterClient, "get">,
  jobId: string,
  explicit: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
  dev: Pick<DevState, "storage" | "s3"> | undefined = readDevState(),
): Promise<JobStorage | undefined> {
  const found = (spec: string, from: JobStorageSource): JobStorage => ({
    spec,
    from,
    env: storageEnv(spec, env, dev),
  });
  if (explicit) return found(explicit, "--storage");
  if (env.TESSERA_STORAGE) return found(env.TESSERA_STORAGE, "TESSERA_STORAGE");
  const written = await outputLocation(client, jobId);
  if (written) return found(written, "manifest");
  return dev?.storage ? found(dev.storage, "dev cluster") : undefined;
}

/**
 * `env`, plus the dev cluster's local S3 endpoint and account when `spec` names that S3's
 * bucket and `env` configures no S3 of its own (no TESSERA_S3_ENDPOINT, no AWS_REGION).
 */
export function storageEnv(
  spec: string,
  env: Readonly<Record<string, string | undefined>>,
  dev: Pick<DevState, "s3"> | undefined,
): Readonly<Record<string, string | undefined>> {
  const bucket = /^s3:([^/]+)/.exec(spec)?.[1];
  if (bucket === undefined || env.TESSERA_S3_ENDPOINT || env.AWS_REGION) return env;
  return dev?.s3?.bucket === bucket ? { ...env, ...localS3Env(dev.s3) } : env;
}

/** The storage holding the job's output tile C(0,0), from its URI in the manifest. */
async function outputLocation(
  client: Pick<ClusterClient, "get">,
  jobId: string,
): Promise<string | undefined> {
  let task: unknown;
  try {
    task = await client.get(`/v1/jobs/${jobId}/tasks/${reduceTaskId(0, 0)}`);
  } catch (err) {
    // Not computed yet, or a server without this route: the other sources still apply.
    if (err instanceof CliError) return undefined;
    throw err;
  }
  const uri = (task as { output?: { uri?: unknown } | null } | null)?.output?.uri;
  return typeof uri === "string" ? storageSpecOfObjectUri(uri, outputKey(jobId, 0, 0)) : undefined;
}
