import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { STREAMS, type StreamSpec } from "@tessera/protocol";
import { MessagingError } from "./errors.js";
import { withTransientRetry } from "./transient.js";

/** The JetStream stream config a catalogue entry stands for (pure). */
export function streamConfigFor(
  spec: StreamSpec,
  replicas: number,
): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    subjects: [...spec.subjects],
    description: spec.description,
    retention: spec.retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: replicas,
    duplicate_window: nanos(spec.duplicateWindowMs),
    max_age: nanos(spec.maxAgeMs),
    max_bytes: spec.maxBytes,
    discard: DiscardPolicy.Old,
  };
}

type Compared =
  | "subjects"
  | "description"
  | "retention"
  | "storage"
  | "num_replicas"
  | "duplicate_window"
  | "max_age"
  | "max_bytes"
  | "discard";
const COMPARED: readonly Compared[] = [
  "subjects",
  "description",
  "retention",
  "storage",
  "num_replicas",
  "duplicate_window",
  "max_age",
  "max_bytes",
  "discard",
];

/** Fields whose current value differs from the desired one (pure). */
export function streamConfigDiff(
  current: Partial<StreamConfig>,
  desired: Partial<StreamConfig>,
): Compared[] {
  const norm = (k: Compared, c: Partial<StreamConfig>) =>
    k === "subjects"
      ? JSON.stringify([...(c.subjects ?? [])].sort())
      : JSON.stringify(c[k] ?? null);
  return COMPARED.filter((k) => norm(k, current) !== norm(k, desired));
}

export interface ProvisionOptions {
  /** 1 on a single server, 3 on the 3-node cluster. */
  replicas: number;
  /** Streams to provision (default: every catalogue stream). */
  streams?: readonly StreamSpec[];
}

export interface ProvisionResult {
  stream: string;
  action: "created" | "updated" | "unchanged";
  /** Fields changed by an update. */
  changed: string[];
}

const STREAM_NOT_FOUND = 10059;

/**
 * Create or update every catalogue stream so its config matches the catalogue. Idempotent:
 * running it again reports "unchanged" and sends no update. A stream whose config cannot be
 * changed in place (e.g. retention or storage) is reported with a MessagingError naming the
 * stream, the differing fields and the server's reason.
 */
export async function provisionStreams(
  jsm: JetStreamManager,
  options: ProvisionOptions,
): Promise<ProvisionResult[]> {
  if (!Number.isInteger(options.replicas) || options.replicas < 1 || options.replicas > 5) {
    throw new MessagingError(
      "TESSERA_E_MESSAGING_ARGUMENT",
      `replicas: must be an integer in 1..5, got ${options.replicas}`,
    );
  }
  const results: ProvisionResult[] = [];
  for (const spec of options.streams ?? STREAMS) {
    const desired = streamConfigFor(spec, options.replicas);
    let current: StreamConfig | undefined;
    try {
      current = (await withTransientRetry(() => jsm.streams.info(spec.name))).config;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND)) {
        throw new MessagingError(
          "TESSERA_E_MESSAGING_PROVISION",
          `stream ${spec.name}: cannot read its info: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
    if (!current) {
      try {
        await jsm.streams.add(desired);
      } catch (err) {
        // Many processes provision at start-up: losing the creation race to an identical
        // stream is success, so only report the error when the stream still does not exist.
        if (
          await jsm.streams.info(spec.name).then(
            () => true,
            () => false,
          )
        ) {
          results.push({ stream: spec.name, action: "unchanged", changed: [] });
          continue;
        }
        throw new MessagingError(
          "TESSERA_E_MESSAGING_PROVISION",
          `stream ${spec.name}: cannot create it: ${(err as Error).message}`,
          { cause: err },
        );
      }
      results.push({ stream: spec.name, action: "created", changed: [] });
      continue;
    }
    const changed = streamConfigDiff(current, desired);
    if (changed.length === 0) {
      results.push({ stream: spec.name, action: "unchanged", changed });
      continue;
    }
    try {
      await jsm.streams.update(spec.name, { ...current, ...desired });
    } catch (err) {
      throw new MessagingError(
        "TESSERA_E_MESSAGING_PROVISION",
        `stream ${spec.name} exists with an incompatible config (${changed.join(", ")} differ) and the server refused to update it: ${(err as Error).message}`,
        { cause: err },
      );
    }
    results.push({ stream: spec.name, action: "updated", changed });
  }
  return results;
}
