// Agents' completion reports as they are published (core NATS subscription on
// tessera.cmd.task.complete): the per-task timings (read / compute / write) that the manifest's
// events do not carry. For benchmarks; a report can be missed while a NATS server restarts.
import { connect, type NatsConnection } from "@tessera/messaging";
import { type CompletionV1, decodeCompletion, SUBJECTS } from "@tessera/protocol";

export class CompletionWatcher {
  readonly completions: CompletionV1[] = [];
  private constructor(private readonly nc: NatsConnection) {}

  /** Subscribes before the job is submitted; keeps every valid report of `jobId`. */
  static async start(natsServers: readonly string[], jobId?: string): Promise<CompletionWatcher> {
    const nc = await connect({ servers: natsServers, name: "tessera-e2e-completions" });
    const w = new CompletionWatcher(nc);
    nc.subscribe(SUBJECTS.taskComplete, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const c = decodeCompletion(msg.data);
          if (jobId === undefined || c.jobId === jobId) w.completions.push(c);
        } catch {
          // not a completion: ignore
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
