#!/usr/bin/env node
// `tessera-storage-manager`: parse flags/env, start the manager, turn signals into a clean stop.
import { ServiceLogging } from "@tessera/messaging";
import { runUntilSignal } from "@tessera/observability";
import { parseStorageManagerConfig, STORAGE_MANAGER_USAGE } from "./config.js";
import { StorageManager } from "./manager.js";

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(STORAGE_MANAGER_USAGE);
    return 0;
  }
  let config: ReturnType<typeof parseStorageManagerConfig>;
  try {
    config = parseStorageManagerConfig(argv, process.env);
  } catch (err) {
    console.error(`tessera-storage-manager: ${(err as Error).message}\n${STORAGE_MANAGER_USAGE}`);
    return 2;
  }
  const logging = new ServiceLogging({
    service: "storage-manager",
    nodeId: config.nodeId,
    level: config.logLevel,
    ship: config.shipLogs,
    servers: config.natsUrl.split(","),
  });
  const logger = logging.logger;
  return runUntilSignal({
    name: "tessera-storage-manager",
    logger,
    start: async () => {
      await logging.start();
      return StorageManager.start(config, logger, process.env);
    },
    stop: async (manager) => {
      await manager.stop();
      await logging.stop();
    },
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error("tessera-storage-manager: fatal:", err);
    process.exit(1);
  },
);
