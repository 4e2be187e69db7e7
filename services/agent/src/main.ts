#!/usr/bin/env node
// `tessera-agent`: parse flags/env, start the agent, turn signals into lifecycle calls.
import { hostname } from "node:os";
import { ServiceLogging } from "@tessera/messaging";
import { runUntilSignal } from "@tessera/observability";
import { Agent } from "./agent.js";
import { AGENT_USAGE, parseAgentConfig } from "./config.js";

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(AGENT_USAGE);
    return 0;
  }
  const defaultNodeId = `${hostname()
    .replace(/[^A-Za-z0-9_-]/g, "-")
    .slice(0, 48)}-${process.pid}`;
  let config: ReturnType<typeof parseAgentConfig>;
  try {
    config = parseAgentConfig(argv, process.env, { nodeId: defaultNodeId });
  } catch (err) {
    console.error(`tessera-agent: ${(err as Error).message}\n${AGENT_USAGE}`);
    return 2;
  }
  const logging = new ServiceLogging({
    service: "agent",
    nodeId: config.nodeId,
    level: config.logLevel,
    ship: config.shipLogs,
    servers: config.natsUrl.split(","),
  });
  const logger = logging.logger;
  return runUntilSignal({
    name: "tessera-agent",
    logger,
    start: async () => {
      await logging.start();
      return Agent.start(config, logger, process.env);
    },
    stop: async (agent) => {
      await agent.stop();
      await logging.stop();
    },
    // Warm standby: SIGUSR2 promotes the agent to pull work.
    onStarted: (agent) => process.on("SIGUSR2", () => agent.promote()),
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error("tessera-agent: fatal:", err);
    process.exit(1);
  },
);
