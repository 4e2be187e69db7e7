import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { endOnClosedStdout } from "./closed-stdout.js";

describe("endOnClosedStdout", () => {
  it("ends once when the reader of stdout has gone, and leaves other errors alone", () => {
    const out = new EventEmitter();
    let ends = 0;
    endOnClosedStdout(out, () => ends++);
    const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
    out.emit("error", epipe);
    out.emit("error", epipe);
    expect(ends).toBe(1);
    const other = Object.assign(new Error("write EIO"), { code: "EIO" });
    expect(() => out.emit("error", other)).toThrow("write EIO");
  });

  it("a tessera whose stdout pipe closed ends without a stack trace", async () => {
    // `--help` writes at once, to a pipe whose reader is already gone (Node's default: a stack
    // trace for the unhandled EPIPE and exit 1).
    const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));
    const child = spawn(process.execPath, [main, "job", "profile", "--help"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on("exit", (c, s) => resolve([c, s])),
    );
    expect(stderr).not.toContain("Unhandled 'error' event");
    expect(code === 0 || signal === "SIGTERM").toBe(true);
  });
});
