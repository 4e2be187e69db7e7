#!/usr/bin/env node
// `tessera-storage-manager`: parse flags/env, start the manager, turn signals into a clean stop.
import { createLogger } from "@tessera/observability";
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
  const logger = createLogger({
    service: "storage-manager",
    nodeId: config.nodeId,
    level: config.logLevel,
  });
  let manager: StorageManager;
  try {
    manager = await StorageManager.start(config, logger, process.env);
  } catch (err) {
    logger.fatal({ err }, "storage-manager failed to start");
    return 1;
  }
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, "shutdown requested");
      manager.stop().then(
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
    console.error("tessera-storage-manager: fatal:", err);
    process.exit(1);
  },
);
