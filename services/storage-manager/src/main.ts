#!/usr/bin/env node
// `tessera-storage-manager`: parse flags/env, start the manager, turn signals into a clean stop.
import { ServiceLogging } from "@tessera/messaging";
import { serviceMain } from "@tessera/observability";
import { parseStorageManagerConfig, STORAGE_MANAGER_USAGE } from "./config.js";
import { StorageManager } from "./manager.js";

void serviceMain({
  name: "tessera-storage-manager",
  usage: STORAGE_MANAGER_USAGE,
  parse: (argv) => parseStorageManagerConfig(argv, process.env),
  run: (config) =>
    new ServiceLogging({
      service: "storage-manager",
      nodeId: config.nodeId,
      level: config.logLevel,
      ship: config.shipLogs,
      servers: config.natsUrl.split(","),
      security: config.natsSecurity,
    }).runUntilSignal({
      name: "tessera-storage-manager",
      start: (logger) => StorageManager.start(config, logger, process.env),
      stop: (manager) => manager.stop(),
    }),
});
