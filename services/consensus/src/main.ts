#!/usr/bin/env node
// `tessera-consensus`: parse flags / config file, start the peer, turn signals into lifecycle
// calls. SIGTERM/SIGINT → leadership transfer, stop leader duties, close gRPC/HTTP/NATS, exit 0.
import { createLogger, LogShipper, runUntilSignal, serviceMain } from "@tessera/observability";
import { startConsensusService } from "./api/service.js";
import { CONSENSUS_USAGE, parseConsensusConfig } from "./config.js";

void serviceMain({
  name: "tessera-consensus",
  usage: CONSENSUS_USAGE,
  parse: (argv) => parseConsensusConfig(argv, { env: process.env }),
  run: (config) => {
    // The service ships through its own NATS connection (started with it), not ServiceLogging's.
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
  },
});
