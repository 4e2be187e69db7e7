import { Type } from "@sinclair/typebox";

/**
 * Shared field schemas. `errorMessage` (the ajv-errors keyword, so fastify can reuse these
 * schemas) replaces TypeBox's generic wording where a rule has a domain meaning.
 */

export const JOB_ID_PATTERN = "^[A-Za-z0-9._-]{1,64}$";

export const JobId = Type.String({
  pattern: JOB_ID_PATTERN,
  errorMessage: "must be 1..64 characters of [A-Za-z0-9._-]",
});

export const NonEmptyString = (maxLength = 256) =>
  Type.String({
    minLength: 1,
    maxLength,
    errorMessage: `must be a string of 1..${maxLength} characters`,
  });

export const NonNegativeInt = (errorMessage = "must be an integer >= 0") =>
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, errorMessage });

/** Milliseconds since the Unix epoch. */
export const EpochMs = NonNegativeInt("must be an integer number of ms since the epoch (>= 0)");

/** A duration or timing in milliseconds; fractional values are allowed. */
export const Millis = Type.Number({ minimum: 0, errorMessage: "must be a number of ms >= 0" });

export const Attempt = Type.Integer({
  minimum: 1,
  maximum: 1_000_000,
  errorMessage: "must be an integer >= 1",
});

export const TaskKind = Type.Union([Type.Literal("map"), Type.Literal("reduce")], {
  errorMessage: 'must be "map" or "reduce"',
});

export const ExecutionProvider = Type.Union([Type.Literal("cpu"), Type.Literal("cuda")], {
  errorMessage: 'must be "cpu" or "cuda"',
});

/** Pools, node ids and other values that become subject tokens. */
export const SubjectToken = Type.String({
  pattern: "^[A-Za-z0-9_-]{1,64}$",
  errorMessage: "must be 1..64 characters of [A-Za-z0-9_-]",
});
