// Heartbeats: what an agent tells the control plane every second about itself. The builder is
// pure; the Heartbeater owns the timer and hands each beat to a publish function.
import type { HeartbeatV1 } from "@tessera/protocol";
import type { ExecutionProvider } from "./kernel/kernel-runner.js";

export type AgentState = HeartbeatV1["state"];
export type RunningTask = HeartbeatV1["running"][number];

export interface HeartbeatSource {
  nodeId: string;
  labels: HeartbeatV1["labels"];
  capacity: HeartbeatV1["capacity"];
  executionProvider: ExecutionProvider;
  state(): AgentState;
  running(): RunningTask[];
}

/**
 * One beat. `capacity.slots` is what the node OFFERS: its slots while active, 0 while it is a
 * warm standby or draining, so the manifest (and every scheduler's admission) counts only
 * capacity that pulls work. A standby announces its real slots the moment it is promoted.
 */
export function buildHeartbeat(source: HeartbeatSource, seq: number, sentAt: number): HeartbeatV1 {
  const state = source.state();
  return {
    v: 1,
    nodeId: source.nodeId,
    seq,
    sentAt,
    labels: source.labels,
    capacity: state === "active" ? source.capacity : { ...source.capacity, slots: 0 },
    executionProvider: source.executionProvider,
    state,
    running: source.running(),
  };
}

export class Heartbeater {
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: HeartbeatSource,
    private readonly publish: (hb: HeartbeatV1) => void,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Beats now and then every interval (a new agent is visible at once, not a second later). */
  start(): void {
    this.beat();
    this.timer = setInterval(() => this.beat(), this.intervalMs);
  }

  /** One beat outside the schedule, e.g. the final "draining" beat on shutdown. */
  beat(): void {
    try {
      this.publish(buildHeartbeat(this.source, ++this.seq, Date.now()));
    } catch (err) {
      // A lost beat is tolerable (the next comes in a second); a crashed agent is not.
      this.onError(err);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
