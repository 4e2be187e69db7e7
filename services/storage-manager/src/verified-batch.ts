// Output checks that passed, gathered into outputs-verified commands: one Raft entry per batch
// instead of one per task. output-verified is bookkeeping (nothing waits on it; every reader
// verifies what it reads), so a short linger costs nothing and saves the control plane a command
// — and a TESSERA_CMD message each way — per task.
import type { Proposal } from "./tracker.js";

export type OutputsVerifiedProposal = Extract<Proposal, { type: "outputs-verified" }>;

export class VerifiedBatch {
  private byJob = new Map<string, { taskId: string; attempt: number }[]>();
  private gathered = 0;

  constructor(private readonly maxPerCommand: number) {}

  /** Outputs gathered and not yet taken. */
  get size(): number {
    return this.gathered;
  }

  add(jobId: string, taskId: string, attempt: number): void {
    let outputs = this.byJob.get(jobId);
    if (!outputs) {
      outputs = [];
      this.byJob.set(jobId, outputs);
    }
    outputs.push({ taskId, attempt });
    this.gathered++;
  }

  /** Everything gathered as commands of at most maxPerCommand outputs each, in arrival order. */
  take(): OutputsVerifiedProposal[] {
    const out: OutputsVerifiedProposal[] = [];
    for (const [jobId, outputs] of this.byJob) {
      for (let i = 0; i < outputs.length; i += this.maxPerCommand) {
        out.push({
          type: "outputs-verified",
          jobId,
          outputs: outputs.slice(i, i + this.maxPerCommand),
        });
      }
    }
    this.byJob = new Map();
    this.gathered = 0;
    return out;
  }
}
