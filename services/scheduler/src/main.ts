#!/usr/bin/env node
// `tessera-scheduler`: parse flags/env, start the scheduler, turn signals into a clean stop.
import { ServiceLogging } from "@tessera/messaging";
import { serviceMain } from "@tessera/observability";
import { parseSchedulerConfig, SCHEDULER_USAGE } from "./config.js";
import { Scheduler } from "./scheduler.js";

void serviceMain({
  name: "tessera-scheduler",
  usage: SCHEDULER_USAGE,
  parse: (argv) =>
    parseSchedulerConfig(argv, process.env, { instanceId: `scheduler-${process.pid}` }),
  run: (config) =>
    new ServiceLogging({
      service: "scheduler",
      nodeId: config.instanceId,
      level: config.logLevel,
      ship: config.shipLogs,
      servers: config.natsUrl,
      security: config.natsSecurity,
    }).runUntilSignal({
      name: "tessera-scheduler",
      start: (logger) => Scheduler.start(config, logger),
      stop: (scheduler) => scheduler.stop(),
    }),
});
