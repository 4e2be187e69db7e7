import { readFileSync } from "node:fs";
import { Kind, type Static, type TObject, type TSchema } from "@sinclair/typebox";
import { ValueErrorType } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { envVarName } from "./env-names.js";
import { ConfigError, type ConfigIssue, type ConfigSource } from "./errors.js";

export interface LoadConfigOptions<S extends TObject> {
  /** Environment to read (pass `process.env`; tests pass a literal). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Optional JSON file; its values are overridden by env vars. */
  file?: string;
  /** Lowest-precedence values (schema `default`s apply after these). */
  defaults?: Partial<Static<S>>;
  /** Env var prefix (default `TESSERA_`). Nested properties join with `__`. */
  envPrefix?: string;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Convert an env string to the JSON type the schema expects (validation happens later). */
function fromEnv(schema: TSchema, raw: string): unknown {
  const type = (schema as { type?: unknown }).type;
  if (type === "integer" || type === "number") return raw.trim() === "" ? raw : Number(raw);
  if (type === "boolean") {
    const v = raw.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(v)) return true;
    if (["false", "0", "no", "off"].includes(v)) return false;
    return raw;
  }
  if (type === "array")
    return raw
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((s) => fromEnv((schema as unknown as { items: TSchema }).items, s));
  if (type === "object") {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return raw;
    }
  }
  return raw;
}

/** Walk the schema, taking values from env vars; records which paths came from env. */
function readEnv(
  schema: TObject,
  env: LoadConfigOptions<TObject>["env"],
  prefix: string,
  path: string[],
  out: Json,
  sources: Map<string, string>,
): void {
  for (const [key, prop] of Object.entries(schema.properties)) {
    const p = [...path, key];
    const name = envVarName(p, prefix);
    const raw = env?.[name];
    if (raw !== undefined) {
      out[key] = fromEnv(prop, raw);
      sources.set(`/${p.join("/")}`, name);
    } else if (prop[Kind] === "Object") {
      const nested: Json = isObject(out[key]) ? (out[key] as Json) : {};
      readEnv(prop as TObject, env, prefix, p, nested, sources);
      if (Object.keys(nested).length > 0) out[key] = nested;
    }
  }
}

function deepMerge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as Json, v) : v;
  }
  return out;
}

function readFile(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([
      {
        field: file,
        source: "file",
        reason: `cannot read config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      },
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([
      { field: file, source: "file", reason: `is not valid JSON (${(err as Error).message})` },
    ]);
  }
  if (!isObject(parsed))
    throw new ConfigError([{ field: file, source: "file", reason: "must contain a JSON object" }]);
  return parsed;
}

function has(obj: Json, pointer: string): boolean {
  let cur: unknown = obj;
  for (const part of pointer.split("/").slice(1)) {
    if (!isObject(cur) || !(part in cur)) return false;
    cur = cur[part];
  }
  return true;
}

/**
 * Load configuration: defaults < JSON file < environment, then schema defaults, then
 * validation. Every problem names the variable or file field a user has to fix, e.g.
 * `config: TESSERA_NATS_PORT: must be an integer (got "abc")`.
 */
export function loadConfig<S extends TObject>(
  schema: S,
  options: LoadConfigOptions<S> = {},
): Static<S> {
  const prefix = options.envPrefix ?? "TESSERA_";
  const fileValues = options.file ? readFile(options.file) : {};
  const envValues: Json = {};
  const envSources = new Map<string, string>();
  readEnv(schema, options.env, prefix, [], envValues, envSources);
  const merged = deepMerge(deepMerge((options.defaults ?? {}) as Json, fileValues), envValues);
  const value = Value.Default(schema, merged);
  if (Value.Check(schema, value)) return value as Static<S>;

  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    if (seen.has(error.path)) continue;
    seen.add(error.path);
    const segments = error.path.split("/").slice(1);
    const envName = envSources.get(error.path);
    let source: ConfigSource;
    let field: string;
    if (envName) {
      source = "env";
      field = envName;
    } else if (options.file && has(fileValues, error.path)) {
      source = "file";
      field = `${options.file}: ${error.path}`;
    } else if (error.type === ValueErrorType.ObjectRequiredProperty) {
      source = "missing";
      field = envVarName(segments, prefix);
    } else {
      source = "default";
      field = `${error.path} (default)`;
    }
    const custom = (error.schema as { errorMessage?: unknown }).errorMessage;
    let reason =
      error.type === ValueErrorType.ObjectRequiredProperty
        ? `is required (set ${envVarName(segments, prefix)}${options.file ? ` or "${error.path}" in ${options.file}` : ""})`
        : error.type === ValueErrorType.ObjectAdditionalProperties
          ? "is not a known setting"
          : typeof custom === "string"
            ? custom
            : error.message.toLowerCase();
    if (source === "env") reason += ` (got ${JSON.stringify(options.env?.[field])})`;
    issues.push({ field, source, reason });
  }
  throw new ConfigError(issues);
}
