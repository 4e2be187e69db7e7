#!/usr/bin/env node
// `tessera-agent`: parse flags/env, start the agent, turn signals into lifecycle calls.
import { hostname } from "node:os";
import { createLogger } from "@tessera/observability";
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
  const logger = createLogger({ service: "agent", nodeId: config.nodeId, level: config.logLevel });
  let agent: Agent;
  try {
    agent = await Agent.start(config, logger, process.env);
  } catch (err) {
    logger.fatal({ err }, "agent failed to start");
    return 1;
  }
  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, "shutdown requested");
      agent.stop().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.on("SIGUSR2", () => agent.promote());
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error("tessera-agent: fatal:", err);
    process.exit(1);
  },
);
