// Where a job's outputs are stored, for a client that reads them back (`tessera verify`, `job
// submit --wait` without a verdict): what the operator said (--storage, then TESSERA_STORAGE),
// else where the manifest says the job wrote its first output tile, else the storage of the dev
// cluster in the default data directory. The manifest comes before the dev cluster: `--server`
// may name another cluster than the one `tessera dev up` left its state for.
import { outputKey, reduceTaskId } from "@tessera/matrix";
import { storageSpecOfObjectUri } from "@tessera/storage";
import { CliError, type ClusterClient } from "./client.js";
import { readDevState } from "./dev-cluster.js";

export type JobStorageSource = "--storage" | "TESSERA_STORAGE" | "manifest" | "dev cluster";

export interface JobStorage {
  /** A `--storage` value: fs:<dir>, s3:<bucket>[/<prefix>] or gcs:<bucket>[/<prefix>]. */
  readonly spec: string;
  readonly from: JobStorageSource;
}

export async function jobStorage(
  client: Pick<ClusterClient, "get">,
  jobId: string,
  explicit: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<JobStorage | undefined> {
  if (explicit) return { spec: explicit, from: "--storage" };
  if (env.TESSERA_STORAGE) return { spec: env.TESSERA_STORAGE, from: "TESSERA_STORAGE" };
  const written = await outputLocation(client, jobId);
  if (written) return { spec: written, from: "manifest" };
  const dev = readDevState()?.storage;
  return dev ? { spec: dev, from: "dev cluster" } : undefined;
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
