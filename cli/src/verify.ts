// `tessera verify JOB`: Freivalds over every output tile read back from storage (CRC32C-verified
// on read) plus the output digest over the stored tiles' checksums, compared with the manifest's.
import { type MatmulJobSpec, outputKey, reduceTaskId } from "@tessera/matrix";
import { createObjectStore, storageConfigFromSpec } from "@tessera/storage";
import { verifyJobOutputs } from "@tessera/storage-manager";
import { CliError } from "./client.js";
import type { JobStorage } from "./job-storage.js";

export interface VerifyReport {
  readonly jobId: string;
  readonly verified: boolean;
  readonly digest: string | null;
  readonly manifestDigest: string | null;
  readonly digestMatches: boolean | null;
  readonly tilesChecked: number;
  readonly failures: readonly { i: number; j: number; reason: string }[];
  readonly rounds: number;
  readonly verifySeed: number;
  /** Freivalds check that ran: "rows" (exact mode) or "tiles"; null when tiles were missing. */
  readonly check: "rows" | "tiles" | null;
  /** Exact mode: the most a wrong output passes with (libs/matrix VerifyJobResult); else null. */
  readonly missProbabilityBound: number | null;
  readonly seconds: number;
  readonly storage: string;
}

export async function verifyJobInStorage(
  jobId: string,
  spec: MatmulJobSpec,
  storage: Pick<JobStorage, "spec" | "env">,
  manifestDigest: string | null,
  rounds = 2,
): Promise<VerifyReport> {
  const store = createObjectStore(storageConfigFromSpec(storage.spec, storage.env));
  try {
    const K = spec.n / spec.tile;
    const checksums = new Map<string, string>();
    const missing: { i: number; j: number; reason: string }[] = [];
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const head = await store.head(outputKey(jobId, i, j));
        if (head) checksums.set(reduceTaskId(i, j), head.checksum);
        else missing.push({ i, j, reason: `output tile ${outputKey(jobId, i, j)} does not exist` });
      }
    }
    if (missing.length > 0) {
      return {
        jobId,
        verified: false,
        digest: null,
        manifestDigest,
        digestMatches: null,
        tilesChecked: 0,
        failures: missing,
        rounds,
        verifySeed: 0,
        check: null,
        missProbabilityBound: null,
        seconds: 0,
        storage: storage.spec,
      };
    }
    const v = await verifyJobOutputs(store, jobId, spec, checksums, rounds);
    const digestMatches = manifestDigest === null ? null : manifestDigest === v.digest;
    return {
      jobId,
      verified: v.result.verified && digestMatches !== false,
      digest: v.digest,
      manifestDigest,
      digestMatches,
      tilesChecked: v.result.tilesChecked,
      failures: v.result.failures,
      rounds: v.result.rounds,
      verifySeed: v.result.verifySeed,
      check: v.result.check,
      missProbabilityBound: v.result.missProbabilityBound,
      seconds: Number(v.seconds.toFixed(3)),
      storage: storage.spec,
    };
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`verify ${jobId}: ${(err as Error).message}${s3Hint(storage)}`);
  } finally {
    await store.close();
  }
}

/** For an S3 store opened with no S3 configured: where the endpoint and account come from. */
function s3Hint(storage: Pick<JobStorage, "spec" | "env">): string {
  if (!storage.spec.startsWith("s3:") || storage.env.TESSERA_S3_ENDPOINT || storage.env.AWS_REGION)
    return "";
  return " (no S3 is configured here: set TESSERA_S3_ENDPOINT and AWS credentials, e.g. those of a dev cluster's local S3, named in `tessera dev up --json` as s3.endpoint, account S3RVER/S3RVER, AWS_REGION=us-east-1)";
}
