// Agents' completion reports as they are published (core NATS subscriptions on
// tessera.cmd.task.complete and, unpacked, tessera.cmd.task.complete-batch): the per-task timings (read / compute / write) that the manifest's
// events do not carry. For benchmarks; a report can be missed while a NATS server restarts.
import { connect, type NatsConnection } from "@tessera/messaging";
import {
  type CompletionV1,
  decodeCompletion,
  decodeCompletionBatch,
  SUBJECTS,
} from "@tessera/protocol";

export class CompletionWatcher {
  readonly completions: CompletionV1[] = [];
  private constructor(private readonly nc: NatsConnection) {}

  /** Subscribes before the job is submitted; keeps every valid report of `jobId`. */
  static async start(natsServers: readonly string[], jobId?: string): Promise<CompletionWatcher> {
    const nc = await connect({ servers: natsServers, name: "tessera-e2e-completions" });
    const w = new CompletionWatcher(nc);
    const keep = (c: CompletionV1) => {
      if (jobId === undefined || c.jobId === jobId) w.completions.push(c);
    };
    nc.subscribe(SUBJECTS.taskComplete, {
      callback: (err, msg) => {
        if (err) return;
        try {
          keep(decodeCompletion(msg.data));
        } catch {
          // not a completion: ignore
        }
      },
    });
    nc.subscribe(SUBJECTS.taskCompleteBatch, {
      callback: (err, msg) => {
        if (err) return;
        try {
          for (const c of decodeCompletionBatch(msg.data).completions) keep(c);
        } catch {
          // not a completion batch: ignore
        }
      },
    });
    await nc.flush();
    return w;
  }

  async stop(): Promise<void> {
    await this.nc.close();
  }
}
