import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { ConfigError, envVarName } from "./index.js";
import { loadConfig } from "./load-config.js";

const Schema = Type.Object(
  {
    natsUrls: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    pool: Type.String({ pattern: "^[a-z]+$", errorMessage: "must be lowercase letters" }),
    slots: Type.Integer({ minimum: 1, default: 1 }),
    useGpu: Type.Boolean({ default: false }),
    storage: Type.Object(
      { rootDir: Type.String({ minLength: 1 }), fsync: Type.Boolean({ default: true }) },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

function file(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "tessera-config-")), "config.json");
  writeFileSync(path, content);
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("layers defaults < file < env, coerces env strings and applies schema defaults", () => {
    const path = file(
      JSON.stringify({ pool: "cpu", slots: 2, storage: { rootDir: "/from/file" } }),
    );
    const config = loadConfig(Schema, {
      file: path,
      defaults: { pool: "gpu", natsUrls: ["nats://default:4222"] },
      env: {
        TESSERA_SLOTS: "4",
        TESSERA_USE_GPU: "true",
        TESSERA_NATS_URLS: "nats://a:4222, nats://b:4222",
        TESSERA_STORAGE__FSYNC: "0",
      },
    });
    expect(config).toEqual({
      natsUrls: ["nats://a:4222", "nats://b:4222"],
      pool: "cpu",
      slots: 4,
      useGpu: true,
      storage: { rootDir: "/from/file", fsync: false },
    });
  });

  it("names the env var and the reason for a bad value", () => {
    const err = configError(() =>
      loadConfig(Schema, {
        env: {
          TESSERA_SLOTS: "abc",
          TESSERA_POOL: "cpu",
          TESSERA_NATS_URLS: "n",
          TESSERA_STORAGE__ROOT_DIR: "/x",
        },
      }),
    );
    expect(err.code).toBe("TESSERA_E_CONFIG_INVALID");
    expect(err.message).toBe('config: TESSERA_SLOTS: expected integer (got "abc")');
    expect(err.issues[0]?.source).toBe("env");
  });

  it("names a missing setting by its env var (and file path when a file is used)", () => {
    const err = configError(() =>
      loadConfig(Schema, { env: { TESSERA_NATS_URLS: "n", TESSERA_STORAGE__ROOT_DIR: "/x" } }),
    );
    expect(err.message).toBe("config: TESSERA_POOL: is required (set TESSERA_POOL)");
    const path = file("{}");
    const err2 = configError(() => loadConfig(Schema, { file: path, env: {} }));
    expect(err2.issues.map((i) => i.field)).toContain("TESSERA_STORAGE");
    expect(err2.message).toContain(`or "/natsUrls" in ${path}`);
  });

  it("names the file field for a bad or unknown file value, with the schema's own reason", () => {
    const path = file(
      JSON.stringify({ pool: "CPU", natsUrls: ["n"], storage: { rootDir: "/x", extra: 1 } }),
    );
    const err = configError(() => loadConfig(Schema, { file: path, env: {} }));
    expect(err.issues).toEqual([
      { field: `${path}: /pool`, source: "file", reason: "must be lowercase letters" },
      { field: `${path}: /storage/extra`, source: "file", reason: "is not a known setting" },
    ]);
  });

  it("reports unreadable and malformed files", () => {
    expect(() => loadConfig(Schema, { file: "/nonexistent/tessera.json" })).toThrow(
      "config: /nonexistent/tessera.json: cannot read config file (ENOENT)",
    );
    const bad = file("{nope");
    expect(() => loadConfig(Schema, { file: bad })).toThrow(`config: ${bad}: is not valid JSON`);
  });

  it("maps property paths to env var names", () => {
    expect(envVarName(["natsUrls"], "TESSERA_")).toBe("TESSERA_NATS_URLS");
    expect(envVarName(["storage", "rootDir"], "AGENT_")).toBe("AGENT_STORAGE__ROOT_DIR");
  });
});
