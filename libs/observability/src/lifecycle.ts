// One way for every Tessera process to turn SIGTERM/SIGINT into a clean stop.
//
// The handlers are installed *before* the service starts: a supervisor (the CLI, a test, k8s)
// may send SIGTERM the moment a process looks alive, and a signal that lands while start-up is
// still connecting would otherwise hit Node's default action and kill the process with no
// cleanup (exit code null instead of 0). A signal during start-up is remembered and honoured as
// soon as start-up finishes.

/** What the lifecycle logs through: a pino logger, or a CLI's human-readable adapter. */
export interface LifecycleLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
  fatal(fields: object, msg: string): void;
}

export interface RunServiceOptions<S> {
  /** Used in log lines ("<name> failed to start"). */
  readonly name: string;
  readonly logger: LifecycleLog;
  readonly start: () => Promise<S>;
  readonly stop: (service: S) => Promise<void>;
  /** After a stop request, exit 1 anyway when the stop has not finished within this many ms. */
  readonly forceExitAfterMs?: number;
  /** Extra wiring once started (SIGUSR2, fatal-error hooks); `fail` stops and exits 1. */
  readonly onStarted?: (service: S, fail: (err: unknown) => void) => void;
  /** For tests: where signals come from (default: this process). */
  readonly signals?: Pick<NodeJS.Process, "on" | "off">;
}

const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;

/**
 * Starts the service, waits for a stop signal, stops it; resolves to the exit code (0 clean,
 * 1 when the stop failed, overran the grace, or a fatal hook fired). A failed start rejects
 * with the start error, so the caller reports it in its own words.
 */
export function runUntilSignal<S>(opts: RunServiceOptions<S>): Promise<number> {
  const { logger, signals = process } = opts;
  return new Promise<number>((resolve, reject) => {
    let signalled: string | undefined;
    let service: S | undefined;
    let stopping = false;
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      for (const sig of STOP_SIGNALS) signals.off(sig, onSignal);
      outcome();
    };
    const finish = (code: number) => settle(() => resolve(code));
    let forceArmed = false;
    const armForceExit = () => {
      if (forceArmed || opts.forceExitAfterMs === undefined) return;
      forceArmed = true;
      // A hung stop (or a start-up stuck on the network) must not keep a supervisor waiting.
      const force = setTimeout(() => {
        logger.error({ graceMs: opts.forceExitAfterMs }, "shutdown grace exceeded; exiting");
        finish(1);
      }, opts.forceExitAfterMs);
      force.unref();
    };
    const stopWith = (code: number) => {
      armForceExit();
      if (stopping || service === undefined) return;
      stopping = true;
      opts.stop(service).then(
        () => finish(code),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          finish(1);
        },
      );
    };
    function onSignal(sig: NodeJS.Signals) {
      if (signalled !== undefined) {
        logger.warn({ signal: sig }, "already stopping");
        return;
      }
      signalled = sig;
      logger.info({ signal: sig, starting: service === undefined }, "shutdown requested");
      stopWith(0);
    }
    for (const sig of STOP_SIGNALS) signals.on(sig, onSignal);

    opts.start().then(
      (started) => {
        service = started;
        if (signalled !== undefined) {
          stopWith(0);
          return;
        }
        opts.onStarted?.(started, (err) => {
          logger.fatal({ err }, `${opts.name} failed; exiting`);
          stopWith(1);
        });
      },
      (err: unknown) => {
        logger.fatal({ err }, `${opts.name} failed to start`);
        settle(() => reject(err));
      },
    );
  });
}

export interface ServiceMainOptions<C> {
  /** The executable's name, prefixed to every message ("tessera-agent: ..."). */
  readonly name: string;
  /** Printed for --help / -h, and after a flag error. */
  readonly usage: string;
  /** Flags and environment to config; throws (with a message naming the flag) on bad input. */
  readonly parse: (argv: readonly string[]) => C;
  /** Runs the service (usually through runUntilSignal); resolves to the exit code. */
  readonly run: (config: C) => Promise<number>;
  /** For tests: defaults are this process's argv, console and process.exit. */
  readonly argv?: readonly string[];
  readonly out?: (line: string) => void;
  readonly err?: (...parts: unknown[]) => void;
  readonly exit?: (code: number) => void;
}

/**
 * The entry point every service binary shares: --help prints the usage (exit 0), a bad flag
 * prints its reason and the usage (exit 2), a start-up or run failure is reported as fatal
 * (exit 1), otherwise the process exits with what `run` resolved to.
 */
export function serviceMain<C>(opts: ServiceMainOptions<C>): Promise<void> {
  const argv = opts.argv ?? process.argv.slice(2);
  const out = opts.out ?? ((line: string) => console.log(line));
  const err = opts.err ?? ((...parts: unknown[]) => console.error(...parts));
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const main = async (): Promise<number> => {
    if (argv.includes("--help") || argv.includes("-h")) {
      out(opts.usage);
      return 0;
    }
    let config: C;
    try {
      config = opts.parse(argv);
    } catch (e) {
      err(`${opts.name}: ${(e as Error).message}\n\n${opts.usage}`);
      return 2;
    }
    return opts.run(config);
  };
  return main().then(exit, (e: unknown) => {
    // A typed Tessera error already says what to fix (its stack is in the fatal log line);
    // anything else is a bug, printed whole.
    const code = (e as { code?: unknown } | null)?.code;
    if (e instanceof Error && typeof code === "string" && code.startsWith("TESSERA_E_"))
      err(`${opts.name}: fatal: ${e.message} (${code})`);
    else err(`${opts.name}: fatal:`, e);
    exit(1);
  });
}
