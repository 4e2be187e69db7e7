import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearerHeader, bearerRefusal, bearerVerifier, readApiToken } from "./api-token.js";

let dir: string;
const fail = (flag: string, reason: string): never => {
  throw new Error(`--${flag}: ${reason}`);
};
const tokenIn = async (name: string, text: string) => {
  await writeFile(join(dir, name), text);
  return () => readApiToken(join(dir, name), fail);
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tessera-token-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the HTTP API's bearer token file", () => {
  it("is one line of at least 16 characters without spaces, its line break dropped", async () => {
    expect((await tokenIn("ok", "0123456789abcdef0123\n"))()).toBe("0123456789abcdef0123");
    expect(await tokenIn("short", "hunter2\n")).toThrow(
      /^--api-token-file: .*short holds 7 characters; a token needs at least 16/,
    );
    expect(await tokenIn("spaced", "0123456789 abcdef0123\n")).toThrow(/cannot contain spaces/);
    expect(await tokenIn("empty", "")).toThrow(/is empty/);
    expect(() => readApiToken(join(dir, "missing"), fail)).toThrow(
      /^--api-token-file: cannot read .*missing: ENOENT/,
    );
  });

  it("travels as an Authorization: Bearer header, and no header without one", () => {
    expect(bearerHeader("t0k3n")).toEqual({ authorization: "Bearer t0k3n" });
    expect(bearerHeader(undefined)).toEqual({});
  });

  it("is checked header by header: the token's own header passes, no header or another fails", () => {
    const token = "0123456789abcdef0123";
    const verify = bearerVerifier(token);
    expect(verify(bearerHeader(token).authorization)).toBe("ok");
    expect(verify(undefined)).toBe("missing");
    expect(verify(`Bearer ${token}x`)).toBe("wrong");
    expect(verify(`bearer ${token}`)).toBe("wrong");
    expect(verify(token)).toBe("wrong");
    expect(bearerRefusal("missing")).toMatch(/--api-token-file or TESSERA_API_TOKEN_FILE/);
  });
});
