#!/usr/bin/env node
// `tessera-scheduler`: parse flags/env, start the scheduler, turn signals into a clean stop.
import { ServiceLogging } from "@tessera/messaging";
import { runUntilSignal } from "@tessera/observability";
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
  const logging = new ServiceLogging({
    service: "scheduler",
    nodeId: config.instanceId,
    level: config.logLevel,
    ship: config.shipLogs,
    servers: config.natsUrl,
  });
  const logger = logging.logger;
  return runUntilSignal({
    name: "tessera-scheduler",
    logger,
    start: async () => {
      await logging.start();
      return Scheduler.start(config, logger);
    },
    stop: async (scheduler) => {
      await scheduler.stop();
      await logging.stop();
    },
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error("tessera-scheduler: fatal:", err);
    process.exit(1);
  },
);
