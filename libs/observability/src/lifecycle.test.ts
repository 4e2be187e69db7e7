import { EventEmitter } from "node:events";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, runUntilSignal, serviceMain } from "./index.js";

const quiet = createLogger({
  service: "test",
  nodeId: "t",
  destination: new Writable({ write: (_c, _e, done) => done() }),
});

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const signals = () => new EventEmitter() as unknown as Pick<NodeJS.Process, "on" | "off">;
const emit = (s: Pick<NodeJS.Process, "on" | "off">, sig: NodeJS.Signals) =>
  (s as unknown as EventEmitter).emit(sig, sig);
const tick = () => new Promise((r) => setImmediate(r));

describe("runUntilSignal", () => {
  it("a SIGTERM that arrives while the service is still starting stops it once started (exit 0)", async () => {
    const sig = signals();
    const started = deferred<string>();
    const stopped: string[] = [];
    const code = runUntilSignal({
      name: "svc",
      logger: quiet,
      signals: sig,
      start: () => started.promise,
      stop: async (s) => {
        stopped.push(s);
      },
    });
    await tick();
    emit(sig, "SIGTERM");
    await tick();
    expect(stopped).toEqual([]);
    started.resolve("svc-1");
    expect(await code).toBe(0);
    expect(stopped).toEqual(["svc-1"]);
    expect((sig as unknown as EventEmitter).listenerCount("SIGTERM")).toBe(0);
  });

  it("stops exactly once even when signalled twice, and exits 1 when the stop throws", async () => {
    const sig = signals();
    let stops = 0;
    const code = runUntilSignal({
      name: "svc",
      logger: quiet,
      signals: sig,
      start: async () => "s",
      stop: async () => {
        stops++;
        await tick();
        throw new Error("disk gone");
      },
    });
    await tick();
    emit(sig, "SIGINT");
    emit(sig, "SIGTERM");
    expect(await code).toBe(1);
    expect(stops).toBe(1);
  });

  it("a failed start rejects with its error without calling stop; a fatal hook stops and exits 1", async () => {
    let stops = 0;
    const sig = signals();
    const failedStart = runUntilSignal({
      name: "svc",
      logger: quiet,
      signals: sig,
      start: () => Promise.reject(new Error("no NATS")),
      stop: async () => {
        stops++;
      },
    });
    await expect(failedStart).rejects.toThrow("no NATS");
    expect((sig as unknown as EventEmitter).listenerCount("SIGTERM")).toBe(0);
    expect(stops).toBe(0);
    const fatal = await runUntilSignal({
      name: "svc",
      logger: quiet,
      signals: signals(),
      start: async () => "s",
      stop: async () => {
        stops++;
      },
      onStarted: (_s, fail) => setImmediate(() => fail(new Error("raft storage failed"))),
    });
    expect(fatal).toBe(1);
    expect(stops).toBe(1);
  });

  it("a stop that hangs past the grace exits 1 instead of hanging the supervisor", async () => {
    const sig = signals();
    const code = runUntilSignal({
      name: "svc",
      logger: quiet,
      signals: sig,
      forceExitAfterMs: 50,
      start: async () => "s",
      stop: () => new Promise<void>(() => undefined),
    });
    await tick();
    emit(sig, "SIGTERM");
    expect(await code).toBe(1);
  });
});

describe("serviceMain", () => {
  function harness(argv: string[], run: (port: number) => Promise<number>) {
    const seen = {
      out: [] as string[],
      err: [] as string[],
      exits: [] as number[],
      ran: [] as number[],
    };
    const done = serviceMain({
      name: "tessera-test",
      usage: "usage: tessera-test --port N",
      parse: (a) => {
        const i = a.indexOf("--port");
        const port = Number(a[i + 1]);
        if (i < 0 || !Number.isInteger(port)) throw new Error("--port: must be an integer");
        return port;
      },
      run: (port) => {
        seen.ran.push(port);
        return run(port);
      },
      argv,
      out: (line) => seen.out.push(line),
      err: (...parts) => seen.err.push(parts.map(String).join(" ")),
      exit: (code) => seen.exits.push(code),
    });
    return { seen, done };
  }

  it("--help prints the usage and exits 0 without parsing or running", async () => {
    const { seen, done } = harness(["--port", "x", "-h"], async () => 0);
    await done;
    expect(seen).toEqual({ out: ["usage: tessera-test --port N"], err: [], exits: [0], ran: [] });
  });

  it("a bad flag exits 2 with the parser's reason and the usage; the service never runs", async () => {
    const { seen, done } = harness(["--port", "x"], async () => 0);
    await done;
    expect(seen.exits).toEqual([2]);
    expect(seen.ran).toEqual([]);
    expect(seen.err[0]).toContain("tessera-test: --port: must be an integer");
    expect(seen.err[0]).toContain("usage: tessera-test --port N");
  });

  it("exits with the code run resolves to, and 1 (reported as fatal) when run rejects", async () => {
    const ok = harness(["--port", "7"], async () => 3);
    await ok.done;
    expect(ok.seen.ran).toEqual([7]);
    expect(ok.seen.exits).toEqual([3]);
    const failed = harness(["--port", "7"], async () => {
      throw new Error("bind: address in use");
    });
    await failed.done;
    expect(failed.seen.exits).toEqual([1]);
    expect(failed.seen.err[0]).toContain("tessera-test: fatal:");
    expect(failed.seen.err[0]).toContain("bind: address in use");
    // A typed error is one line a person can act on: its message and code, no stack.
    const typed = harness(["--port", "7"], async () => {
      throw Object.assign(new Error("--nats-tls-ca: cannot read /x: ENOENT"), {
        code: "TESSERA_E_MESSAGING_SECURITY_CONFIG",
      });
    });
    await typed.done;
    expect(typed.seen.exits).toEqual([1]);
    expect(typed.seen.err).toEqual([
      "tessera-test: fatal: --nats-tls-ca: cannot read /x: ENOENT (TESSERA_E_MESSAGING_SECURITY_CONFIG)",
    ]);
  });
});
