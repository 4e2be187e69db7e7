// Which mode the harness picks when no one says, decided against a stand-in for the Docker
// Engine API (an HTTP server answering GET /_ping and /images/{name}/json; DOCKER_HOST points at
// it). Each case runs the BUILT harness in a child process: the engine check is cached per process.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./index.js";
import { NATS_IMAGE } from "./nats-containers.js";

const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));
const run = promisify(execFile);

async function modeWith(env: Record<string, string>): Promise<string> {
  const script = `const { resolveMode } = await import(${JSON.stringify(dist)});
    console.log(await resolveMode());`;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, TESSERA_HARNESS: "", ...env },
  });
  return stdout.trim();
}

describe("mode selection without TESSERA_HARNESS", () => {
  let engine: Server;
  let holdsImage = false;
  let dockerHost = "";
  beforeAll(async () => {
    expect(existsSync(dist), `${dist} missing: run pnpm build first`).toBe(true);
    engine = createServer((req, res) => {
      const ok = req.url === "/_ping" || (holdsImage && req.url === `/images/${NATS_IMAGE}/json`);
      res.writeHead(ok ? 200 : 404).end(ok ? "OK" : "{}");
    });
    await new Promise<void>((resolve) => engine.listen(0, "127.0.0.1", resolve));
    dockerHost = `tcp://127.0.0.1:${(engine.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => engine.close(() => resolve())));

  it("no engine answering: process", async () => {
    expect(await modeWith({ DOCKER_HOST: `tcp://127.0.0.1:${await freePort()}` })).toBe("process");
  });

  it("an engine without the NATS image (it may be unable to pull it): the local nats-server", async () => {
    holdsImage = false;
    expect(await modeWith({ DOCKER_HOST: dockerHost })).toBe("process");
  });

  it("an engine without the image and no nats-server to run: containers (testcontainers pulls)", async () => {
    holdsImage = false;
    const env = { DOCKER_HOST: dockerHost, TESSERA_NATS_SERVER: "/nonexistent/nats-server" };
    expect(await modeWith(env)).toBe("containers");
  });

  it("an engine holding the image: containers", async () => {
    holdsImage = true;
    expect(await modeWith({ DOCKER_HOST: dockerHost })).toBe("containers");
  });
});
