import { StorageConfigError } from "./errors.js";

export interface FsStorageConfig {
  readonly backend: "fs";
  /** Directory that holds the objects; created on first write. */
  readonly root: string;
  /** O_DIRECT for objects of 1 MiB or more (fs/direct-io.ts); default false. */
  readonly directIo?: boolean;
}

export interface S3StorageConfig {
  readonly backend: "s3";
  readonly bucket: string;
  readonly prefix?: string;
  readonly region?: string;
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  readonly conditionalWrites?: boolean;
  readonly partSizeBytes?: number;
  readonly maxAttempts?: number;
}

export interface GcsStorageConfig {
  readonly backend: "gcs";
  readonly bucket: string;
  readonly prefix?: string;
  readonly apiEndpoint?: string;
  readonly projectId?: string;
  readonly keyFilename?: string;
}

export type StorageConfig = FsStorageConfig | S3StorageConfig | GcsStorageConfig;

type Raw = Record<string, unknown>;

function str(raw: Raw, field: string, required: true): string;
function str(raw: Raw, field: string, required: false): string | undefined;
function str(raw: Raw, field: string, required: boolean): string | undefined {
  const v = raw[field];
  if (v === undefined) {
    if (required) throw new StorageConfigError(field, "is required");
    return undefined;
  }
  if (typeof v !== "string" || v.length === 0)
    throw new StorageConfigError(field, "must be a non-empty string");
  return v;
}

function bool(raw: Raw, field: string): boolean | undefined {
  const v = raw[field];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new StorageConfigError(field, "must be true or false");
  return v;
}

function int(raw: Raw, field: string, min: number): number | undefined {
  const v = raw[field];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new StorageConfigError(field, `must be an integer ≥ ${min}`);
  }
  return v;
}

function url(raw: Raw, field: string): string | undefined {
  const v = str(raw, field, false);
  if (v === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(v);
  } catch {
    throw new StorageConfigError(field, `must be an http(s) URL, got ${JSON.stringify(v)}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new StorageConfigError(field, `must be an http(s) URL, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** S3 and GCS bucket names: 3..63 chars of lowercase letters, digits, dots and dashes. */
function bucket(raw: Raw): string {
  const v = str(raw, "bucket", true);
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v)) {
    throw new StorageConfigError(
      "bucket",
      "must be 3..63 chars of [a-z0-9.-], starting and ending with a letter or digit",
    );
  }
  return v;
}

function prefix(raw: Raw): string | undefined {
  const v = str(raw, "prefix", false);
  if (v === undefined) return undefined;
  if (
    !/^[A-Za-z0-9._\-=+/]*\/$/.test(v) ||
    v.startsWith("/") ||
    v.split("/").some((s, i, a) => i < a.length - 1 && (s === "" || s.startsWith(".")))
  ) {
    throw new StorageConfigError(
      "prefix",
      "must be relative key segments ending in '/', e.g. 'tessera/'",
    );
  }
  return v;
}

/**
 * Validates an untrusted configuration object (from env or a file) into a StorageConfig.
 * Throws StorageConfigError naming the first bad field and why. Unknown fields are rejected,
 * so a typo such as `endPoint` does not silently fall back to AWS.
 */
export function parseStorageConfig(input: unknown): StorageConfig {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new StorageConfigError("(root)", "must be an object");
  }
  const raw = input as Raw;
  const allow = (fields: string[]) => {
    for (const k of Object.keys(raw)) {
      if (!fields.includes(k))
        throw new StorageConfigError(k, `is not a known field for backend ${String(raw.backend)}`);
    }
  };
  switch (raw.backend) {
    case "fs": {
      allow(["backend", "root", "directIo"]);
      const directIo = bool(raw, "directIo");
      return { backend: "fs", root: str(raw, "root", true), ...(directIo ? { directIo } : {}) };
    }
    case "s3": {
      allow([
        "backend",
        "bucket",
        "prefix",
        "region",
        "endpoint",
        "forcePathStyle",
        "credentials",
        "conditionalWrites",
        "partSizeBytes",
        "maxAttempts",
      ]);
      const creds = raw.credentials;
      let credentials: S3StorageConfig["credentials"];
      if (creds !== undefined) {
        if (typeof creds !== "object" || creds === null)
          throw new StorageConfigError("credentials", "must be an object");
        const c = creds as Raw;
        const id = c.accessKeyId;
        const secret = c.secretAccessKey;
        const token = c.sessionToken;
        if (typeof id !== "string" || id === "")
          throw new StorageConfigError("credentials.accessKeyId", "must be a non-empty string");
        if (typeof secret !== "string" || secret === "")
          throw new StorageConfigError("credentials.secretAccessKey", "must be a non-empty string");
        if (token !== undefined && typeof token !== "string")
          throw new StorageConfigError("credentials.sessionToken", "must be a string");
        credentials = {
          accessKeyId: id,
          secretAccessKey: secret,
          ...(token ? { sessionToken: token } : {}),
        };
      }
      const region = str(raw, "region", false);
      const endpoint = url(raw, "endpoint");
      const forcePathStyle = bool(raw, "forcePathStyle");
      const conditionalWrites = bool(raw, "conditionalWrites");
      const partSizeBytes = int(raw, "partSizeBytes", 5 * 1024 * 1024);
      const maxAttempts = int(raw, "maxAttempts", 1);
      const p = prefix(raw);
      return {
        backend: "s3",
        bucket: bucket(raw),
        ...(p !== undefined ? { prefix: p } : {}),
        ...(region !== undefined ? { region } : {}),
        ...(endpoint !== undefined ? { endpoint } : {}),
        ...(forcePathStyle !== undefined ? { forcePathStyle } : {}),
        ...(credentials !== undefined ? { credentials } : {}),
        ...(conditionalWrites !== undefined ? { conditionalWrites } : {}),
        ...(partSizeBytes !== undefined ? { partSizeBytes } : {}),
        ...(maxAttempts !== undefined ? { maxAttempts } : {}),
      };
    }
    case "gcs": {
      allow(["backend", "bucket", "prefix", "apiEndpoint", "projectId", "keyFilename"]);
      const apiEndpoint = url(raw, "apiEndpoint");
      const projectId = str(raw, "projectId", false);
      const keyFilename = str(raw, "keyFilename", false);
      const p = prefix(raw);
      return {
        backend: "gcs",
        bucket: bucket(raw),
        ...(p !== undefined ? { prefix: p } : {}),
        ...(apiEndpoint !== undefined ? { apiEndpoint } : {}),
        ...(projectId !== undefined ? { projectId } : {}),
        ...(keyFilename !== undefined ? { keyFilename } : {}),
      };
    }
    default:
      throw new StorageConfigError(
        "backend",
        `must be "fs", "s3" or "gcs", got ${JSON.stringify(raw.backend)}`,
      );
  }
}
