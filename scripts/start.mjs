#!/usr/bin/env node
// `npm start`: the demo. The control plane (consensus service, scheduler) that turns a submitted
// job into work items has not landed yet, so there is no end-to-end demo to run. Say so plainly.
console.error(
  [
    "tessera: the end-to-end demo needs the control plane (consensus service + scheduler), which is not built yet.",
    "What runs today:",
    "  npm test                     every suite (Raft core + simulator, WAL, storage, matrix, messaging, agents on a 3-node JetStream cluster)",
    "  pnpm sim --seeds 200         deterministic Raft simulation with safety + linearizability checks",
    "  pnpm bench kernel|storage|raft-core",
    "  node services/agent/dist/main.js --help   a tile-kernel agent (pulls TESSERA_WORK items)",
  ].join("\n"),
);
process.exit(1);
