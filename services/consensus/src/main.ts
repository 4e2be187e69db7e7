#!/usr/bin/env node
// `tessera-consensus`: parse flags / config file, start the peer, turn signals into lifecycle
// calls. SIGTERM/SIGINT → leadership transfer, stop leader duties, close gRPC/HTTP/NATS, exit 0.
import { createLogger, LogShipper } from "@tessera/observability";
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
  let service: Awaited<ReturnType<typeof startConsensusService>>;
  try {
    service = await startConsensusService(config, logger, shipper);
  } catch (err) {
    logger.fatal({ err }, "consensus peer failed to start");
    return 1;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "shutdown requested");
      // A hung shutdown must not keep a supervisor waiting forever.
      const force = setTimeout(() => {
        logger.error({ graceMs: config.shutdownGraceMs }, "shutdown grace exceeded; exiting");
        resolve(1);
      }, config.shutdownGraceMs + 5_000);
      force.unref();
      service.stop({ transfer: true }).then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    service.onFatal((err) => {
      logger.fatal({ err }, "raft peer failed; exiting");
      void service.stop().finally(() => resolve(1));
    });
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error("tessera-consensus: fatal:", err);
    process.exit(1);
  },
);
