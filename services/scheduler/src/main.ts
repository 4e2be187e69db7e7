#!/usr/bin/env node
// `tessera-scheduler`: parse flags/env, start the scheduler, turn signals into a clean stop.
import { createLogger } from "@tessera/observability";
import { parseSchedulerConfig, SCHEDULER_USAGE } from "./config.js";
import { Scheduler } from "./scheduler.js";

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(SCHEDULER_USAGE);
    return 0;
  }
  let config: ReturnType<typeof parseSchedulerConfig>;
  try {
    config = parseSchedulerConfig(argv, process.env, { instanceId: `scheduler-${process.pid}` });
  } catch (err) {
    console.error(`tessera-scheduler: ${(err as Error).message}\n\n${SCHEDULER_USAGE}`);
    return 2;
  }
  const logger = createLogger({
    service: "scheduler",
    nodeId: config.instanceId,
    level: config.logLevel,
  });
  let scheduler: Scheduler;
  try {
    scheduler = await Scheduler.start(config, logger);
  } catch (err) {
    logger.fatal({ err }, "scheduler failed to start");
    console.error(`tessera-scheduler: ${(err as Error).message}`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, "shutdown requested");
      scheduler.stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error("tessera-scheduler: fatal:", err);
    process.exit(1);
  },
);
