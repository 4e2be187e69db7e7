import type { TSchema } from "@sinclair/typebox";
import { type TypeCheck, TypeCompiler } from "@sinclair/typebox/compiler";
import { type ValueError, ValueErrorType } from "@sinclair/typebox/errors";
import { ProtocolDecodeError, ProtocolValidationError, type ValidationIssue } from "./errors.js";

/** Result of validating an untrusted value: the typed value, or the error saying why not. */
export type ValidationResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: ProtocolValidationError };

/** Cross-field rules that JSON Schema cannot express; run only on schema-valid values. */
export type Rules<T> = (value: T) => ValidationIssue[];

/** Largest encoded message we accept. Work items are ~500 bytes; this bounds a bad actor. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Validates (and encodes/decodes) one message type, possibly over several versions. */
export interface MessageCodec<T> {
  /** Human name used in error messages, e.g. `work item`. */
  readonly what: string;
  /** JSON Schema of every accepted version (a union discriminated by `v`). */
  readonly schema: TSchema;
  /** Validate an already-parsed value. Never throws. */
  check(value: unknown): ValidationResult<T>;
  /** Validate an already-parsed value; throws ProtocolValidationError. */
  parse(value: unknown): T;
  /** UTF-8 JSON bytes → validated value; throws ProtocolDecodeError / ProtocolValidationError. */
  decode(bytes: Uint8Array, maxBytes?: number): T;
  /** Validated value → UTF-8 JSON bytes; throws ProtocolValidationError (catches producer bugs). */
  encode(value: T): Uint8Array;
}

const MAX_ISSUES = 20;

function reasonOf(error: ValueError): string {
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return "is required";
    case ValueErrorType.ObjectAdditionalProperties:
      return "is not an allowed field";
  }
  const custom = (error.schema as { errorMessage?: unknown }).errorMessage;
  return typeof custom === "string" ? custom : error.message.toLowerCase();
}

/** Schema errors → issues, one per path (TypeBox may report several for one field). */
export function schemaIssues(check: TypeCheck<TSchema>, value: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const error of check.Errors(value)) {
    if (seen.has(error.path)) continue;
    // A union reports its own error and its members'; the member errors repeat the path.
    seen.add(error.path);
    issues.push({ path: error.path, reason: reasonOf(error) });
    if (issues.length >= MAX_ISSUES) break;
  }
  return issues;
}

function finish<T>(
  what: string,
  check: TypeCheck<TSchema>,
  rules: Rules<T> | undefined,
  value: unknown,
): ValidationResult<T> {
  if (!check.Check(value)) {
    const issues = schemaIssues(check, value);
    return { ok: false, error: new ProtocolValidationError(what, issues) };
  }
  const typed = value as T;
  const issues = rules ? rules(typed) : [];
  if (issues.length > 0) return { ok: false, error: new ProtocolValidationError(what, issues) };
  return { ok: true, value: typed };
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** UTF-8 JSON bytes → unknown, with a size limit. Throws ProtocolDecodeError. */
export function decodeJson(
  what: string,
  bytes: Uint8Array,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): unknown {
  if (bytes.byteLength > maxBytes) {
    throw new ProtocolDecodeError(
      what,
      `message of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes} bytes`,
      "TESSERA_E_PROTOCOL_TOO_LARGE",
    );
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new ProtocolDecodeError(what, "payload is not valid UTF-8");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ProtocolDecodeError(what, `payload is not valid JSON (${(e as Error).message})`);
  }
}

function makeCodec<T>(
  what: string,
  schema: TSchema,
  validate: (value: unknown) => ValidationResult<T>,
): MessageCodec<T> {
  const parse = (value: unknown): T => {
    const result = validate(value);
    if (!result.ok) throw result.error;
    return result.value;
  };
  return {
    what,
    schema,
    check: validate,
    parse,
    decode: (bytes, maxBytes) => parse(decodeJson(what, bytes, maxBytes)),
    encode: (value) => encoder.encode(JSON.stringify(parse(value))),
  };
}

/** A codec for a plain (unversioned) schema, e.g. a job spec embedded in other messages. */
export function defineSchemaCodec<T>(
  what: string,
  schema: TSchema,
  rules?: Rules<T>,
): MessageCodec<T> {
  const check = TypeCompiler.Compile(schema);
  return makeCodec<T>(what, schema, (value) => finish(what, check, rules, value));
}

/**
 * A codec for a versioned message: `versions` maps each `v` to its schema and rules. An
 * unknown `v` is rejected by name, so a v2 producer talking to a v1 consumer gets a clear
 * error rather than a list of field mismatches.
 */
export function defineVersionedCodec<T extends { v: number }>(
  what: string,
  union: TSchema,
  versions: ReadonlyMap<number, { schema: TSchema; rules?: Rules<T> }>,
): MessageCodec<T> {
  const compiled = new Map(
    [...versions].map(([v, { schema, rules }]) => [
      v,
      { check: TypeCompiler.Compile(schema), rules },
    ]),
  );
  const supported = [...versions.keys()].join(", ");
  return makeCodec<T>(what, union, (value) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return {
        ok: false,
        error: new ProtocolValidationError(what, [{ path: "", reason: "must be a JSON object" }]),
      };
    }
    const v = (value as { v?: unknown }).v;
    const entry = typeof v === "number" ? compiled.get(v) : undefined;
    if (!entry) {
      const reason =
        v === undefined
          ? `is required (supported versions: ${supported})`
          : `unsupported version ${JSON.stringify(v)} (supported: ${supported})`;
      return { ok: false, error: new ProtocolValidationError(what, [{ path: "/v", reason }]) };
    }
    return finish(what, entry.check, entry.rules, value);
  });
}
