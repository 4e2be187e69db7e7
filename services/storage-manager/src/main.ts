#!/usr/bin/env node
// `tessera-storage-manager`: parse flags/env, start the manager, turn signals into a clean stop.
import { createLogger, runUntilSignal } from "@tessera/observability";
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
  return runUntilSignal({
    name: "tessera-storage-manager",
    logger,
    start: () => StorageManager.start(config, logger, process.env),
    stop: (manager) => manager.stop(),
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error("tessera-storage-manager: fatal:", err);
    process.exit(1);
  },
);
