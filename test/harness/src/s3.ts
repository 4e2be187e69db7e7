import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerCleanup, registerTempDir } from "./cleanup.js";
import { HarnessError } from "./errors.js";

/** An s3rver (S3 protocol over a local directory) with one bucket, for tests and benchmarks. */
export interface S3rverInstance {
  /** http://127.0.0.1:<port> — use with forcePathStyle: true. */
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  /** s3rver accepts any credentials; these are the ones to pass. */
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** The directory s3rver stores objects in. */
  readonly directory: string;
  /**
   * The file holding an object's bytes on disk (for corruption tests). Valid for keys of
   * [A-Za-z0-9._-/] characters, which s3rver stores without encoding.
   */
  objectFile(key: string): string;
  /** Closes the server and removes its directory. */
  stop(): Promise<void>;
}

export interface StartS3rverOptions {
  readonly bucket?: string;
}

// Runs inside the child. s3rver makes ListObjectsV2 continuation tokens with DES, which
// OpenSSL 3 only offers through its legacy provider, hence a child started with
// --openssl-legacy-provider instead of an in-process server. Closing stdin (the parent died)
// stops it, so no s3rver outlives its test run.
const CHILD = `
const S3rver = require(process.env.S3RVER_MODULE);
const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true,
  directory: process.env.S3RVER_DIR, configureBuckets: [{ name: process.env.S3RVER_BUCKET, configs: [] }] });
server.run().then(
  (a) => process.stdout.write(JSON.stringify({ port: a.port }) + "\\n"),
  (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
const stop = () => server.close().catch(() => {}).finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
`;

/**
 * Starts s3rver as a child process on a free port (it binds port 0 and reports the port, so
 * there is no race for it) with a temp directory; the S3 client talks real HTTP to it.
 */
export async function startS3rver(options: StartS3rverOptions = {}): Promise<S3rverInstance> {
  const bucket = options.bucket ?? "tessera-test";
  const directory = await mkdtemp(join(tmpdir(), "tessera-s3rver-"));
  const unregisterDir = registerTempDir(directory);
  const child = spawn(process.execPath, ["--openssl-legacy-provider", "-e", CHILD], {
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      S3RVER_MODULE: createRequire(import.meta.url).resolve("s3rver"),
      S3RVER_DIR: directory,
      S3RVER_BUCKET: bucket,
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const unregisterKill = registerCleanup(() => child.kill("SIGKILL"));
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no port reported within 15 s")), 15_000);
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const line = out.split("\n")[0];
        if (out.includes("\n") && line) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code}: ${stderr}`));
      });
    });
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    unregisterKill();
    await rm(directory, { recursive: true, force: true });
    unregisterDir();
    throw new HarnessError(
      "TESSERA_E_HARNESS_START",
      `s3rver did not start: ${(err as Error).message}`,
    );
  }
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    directory,
    objectFile(key: string): string {
      const parts = key.split("/");
      const name = parts.pop() ?? "";
      return join(directory, bucket, ...parts, `${name}._S3rver_object`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
      unregisterKill();
      await rm(directory, { recursive: true, force: true });
      unregisterDir();
    },
  };
}
