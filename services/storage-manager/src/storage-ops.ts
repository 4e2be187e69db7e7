// The storage side of the manager's actions: check one output, verify a whole job (Freivalds +
// output digest), delete a job's partials. Decisions are in tracker.ts; this file only does I/O.
import {
  decodeTile,
  jobOutputDigest,
  type MatmulJobSpec,
  outputKey,
  reduceTaskId,
  type VerifyJobResult,
  verifyJob,
} from "@tessera/matrix";
import type { ObjectStore } from "@tessera/storage";
import {
  decideOutputCheck,
  type OutputCheck,
  type OutputRecord,
  type StoredObjectFacts,
  tileFileBytes,
} from "./tracker.js";

/** A storage failure that says nothing about the object (network, permissions): retry later. */
export class TransientStorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TransientStorageError";
  }
}

function isObjectFault(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return (
    code === "TESSERA_E_STORAGE_CHECKSUM" ||
    code === "TESSERA_E_STORAGE_NOT_FOUND" ||
    code === "TESSERA_E_STORAGE_UNVERIFIABLE"
  );
}

/**
 * Checks a reported output: head (exists, size, recorded checksum) and, in full mode, a verified
 * read of every byte (storage get recomputes CRC32C and refuses a mismatch). Throws
 * TransientStorageError when storage could not answer.
 */
export async function checkOutput(
  store: ObjectStore,
  record: OutputRecord,
  tile: number,
  full: boolean,
): Promise<OutputCheck> {
  let facts: StoredObjectFacts | null;
  try {
    facts = await store.head(record.key);
  } catch (err) {
    throw new TransientStorageError(`head ${record.key}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let contentError: string | undefined;
  const expected = tileFileBytes(tile);
  if (full && facts !== null && facts.checksum === record.output.checksum) {
    try {
      // get verified the bytes against the stored CRC, which matches the reported one (above).
      const bytes = await store.get(record.key);
      decodeTile(bytes, { rows: tile, cols: tile, bytesVerified: true });
    } catch (err) {
      if (isObjectFault(err) || (err as Error).name === "TileFormatError") {
        contentError = (err as Error).message;
      } else {
        throw new TransientStorageError(`get ${record.key}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
  return decideOutputCheck(record, expected, facts, contentError);
}

export interface JobVerification {
  readonly result: VerifyJobResult;
  /** Output digest over the reported (and checked) tile checksums, canonical order. */
  readonly digest: string;
  readonly seconds: number;
}

/** Freivalds over every output tile (read through storage, CRC-verified) plus the digest. */
export async function verifyJobOutputs(
  store: ObjectStore,
  jobId: string,
  spec: MatmulJobSpec,
  checksums: ReadonlyMap<string, string>,
  rounds: number,
): Promise<JobVerification> {
  const started = performance.now();
  // verifyJob reports any unreadable tile as a failure; a storage OUTAGE is not a verdict on the
  // tile, so it is remembered here and turns the whole run into "try again later".
  let transient: unknown;
  const result = await verifyJob(
    spec,
    async (i, j) => {
      try {
        const bytes = await store.get(outputKey(jobId, i, j));
        return decodeTile(bytes, { rows: spec.tile, cols: spec.tile }).data;
      } catch (err) {
        if (!isObjectFault(err) && (err as Error).name !== "TileFormatError") transient ??= err;
        throw err;
      }
    },
    { rounds },
  );
  if (transient !== undefined) {
    throw new TransientStorageError(
      `verify ${jobId}: storage failed while reading outputs: ${(transient as Error).message}`,
      { cause: transient },
    );
  }
  const digest = jobOutputDigest(spec, (i, j) => {
    const c = checksums.get(reduceTaskId(i, j));
    // A missing checksum cannot happen for a job the tracker found ready; a zero digest input
    // would still make the verdict wrong, so refuse loudly.
    if (c === undefined) throw new Error(`no reported checksum for output tile (${i},${j})`);
    return c;
  });
  return { result, digest, seconds: (performance.now() - started) / 1000 };
}

/** Deletes every object under `jobs/<jobId>/partials/`; returns how many were deleted. */
export function deletePartials(store: ObjectStore, jobId: string): Promise<number> {
  return deleteUnder(store, `jobs/${jobId}/partials/`);
}

/** Deletes every object of a deleted job (`jobs/<jobId>/`); returns how many were deleted. */
export function deleteJobObjects(store: ObjectStore, jobId: string): Promise<number> {
  return deleteUnder(store, `jobs/${jobId}/`);
}

async function deleteUnder(store: ObjectStore, prefix: string): Promise<number> {
  let deleted = 0;
  const keys: string[] = [];
  for await (const entry of store.list(prefix)) keys.push(entry.key);
  for (const key of keys) {
    await store.delete(key);
    deleted++;
  }
  return deleted;
}
