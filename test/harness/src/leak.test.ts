import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { canConnect, waitFor } from "./index.js";

// Runs the BUILT harness in a child process (build first: `pnpm build`).
const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));

describe("no leaked servers", () => {
  it("a nats-server dies with the test process even when that process is SIGKILLed", async () => {
    expect(existsSync(dist), `${dist} missing: run pnpm build first`).toBe(true);
    const script = `
      const { startNatsServer } = await import(${JSON.stringify(dist)});
      const s = await startNatsServer({ mode: "process" });
      console.log(s.port + " " + s.storeDir);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: child.stdout! }).once("line", resolve),
    );
    const [portText, storeDir] = line.split(" ") as [string, string];
    const port = Number(portText);
    expect(await canConnect(port)).toBe(true);
    child.kill("SIGKILL"); // no exit handler can run
    await waitFor("the orphaned nats-server to die", async () => !(await canConnect(port)), 10_000);
    // A SIGKILLed process cannot remove its temp dir; this test does it for it.
    await rm(dirname(storeDir), { recursive: true, force: true });
  });
});
