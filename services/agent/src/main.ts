#!/usr/bin/env node
// `tessera-agent`: parse flags/env, start the agent, turn signals into lifecycle calls.
import { hostname } from "node:os";
import { ServiceLogging } from "@tessera/messaging";
import { serviceMain } from "@tessera/observability";
import { Agent } from "./agent.js";
import { AGENT_USAGE, parseAgentConfig } from "./config.js";

const defaultNodeId = `${hostname()
  .replace(/[^A-Za-z0-9_-]/g, "-")
  .slice(0, 48)}-${process.pid}`;

void serviceMain({
  name: "tessera-agent",
  usage: AGENT_USAGE,
  parse: (argv) => parseAgentConfig(argv, process.env, { nodeId: defaultNodeId }),
  run: (config) =>
    new ServiceLogging({
      service: "agent",
      nodeId: config.nodeId,
      level: config.logLevel,
      ship: config.shipLogs,
      servers: config.natsUrl.split(","),
      security: config.natsSecurity,
    }).runUntilSignal({
      name: "tessera-agent",
      start: (logger) => Agent.start(config, logger, process.env),
      stop: (agent) => agent.stop(),
      // Warm standby: SIGUSR2 promotes the agent to pull work.
      onStarted: (agent) => process.on("SIGUSR2", () => agent.promote()),
    }),
});
