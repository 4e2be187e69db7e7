#!/usr/bin/env node
// `tessera-consensus`: parse flags / config file, start the peer, turn signals into lifecycle
// calls. SIGTERM/SIGINT → leadership transfer, stop leader duties, close gRPC/HTTP/NATS, exit 0.
import { createLogger, LogShipper, runUntilSignal } from "@tessera/observability";
import { startConsensusService } from "./api/service.js";
import { CONSENSUS_USAGE, parseConsensusConfig } from "./config.js";

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(CONSENSUS_USAGE);
    return 0;
  }
  let config: ReturnType<typeof parseConsensusConfig>;
  try {
    config = parseConsensusConfig(argv, { env: process.env });
  } catch (err) {
    console.error(`tessera-consensus: ${(err as Error).message}\n${CONSENSUS_USAGE}`);
    return 2;
  }
  const shipper = config.shipLogs ? new LogShipper("consensus") : undefined;
  const logger = createLogger({
    service: "consensus",
    nodeId: String(config.id),
    level: config.logLevel,
    ...(shipper ? { shipper } : {}),
  });
  return runUntilSignal({
    name: "tessera-consensus",
    logger,
    start: () => startConsensusService(config, logger, shipper),
    // Leadership transfer first, so the cluster does not wait out an election timeout.
    stop: (service) => service.stop({ transfer: true }),
    forceExitAfterMs: config.shutdownGraceMs + 5_000,
    onStarted: (service, fail) => service.onFatal(fail),
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error("tessera-consensus: fatal:", err);
    process.exit(1);
  },
);
