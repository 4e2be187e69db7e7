// Agents' completion reports as they are sent (core NATS subscriptions on
// tessera.cmd.task.complete, tessera.cmd.task.complete-batch and tessera.leader.report, batches
// unpacked): the per-task timings (read / compute / write) that the manifest's events do not
// carry. For benchmarks; a report can be missed while a NATS server restarts.
import type { NatsConnection } from "@tessera/messaging";
import {
  type CompletionV1,
  decodeCompletion,
  decodeCompletionBatch,
  decodeDirectReport,
  SUBJECTS,
} from "@tessera/protocol";
import { connectTo, type NatsAt } from "./nats-target.js";

export class CompletionWatcher {
  readonly completions: CompletionV1[] = [];
  private constructor(private readonly nc: NatsConnection) {}

  /** Subscribes before the job is submitted; keeps every valid report of `jobId`. */
  static async start(nats: NatsAt, jobId?: string): Promise<CompletionWatcher> {
    const nc = await connectTo(nats, "tessera-e2e-completions");
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
    // Reports sent straight to the leader (request/reply, not stored anywhere). A plain
    // subscriber receives a copy of each request; it never answers. Caveat: while no leader
    // listens, an agent's request then times out instead of finding no responders, so its
    // fallback to TESSERA_CMD takes seconds: fine for a benchmark of a steady cluster, which is
    // what this watcher serves.
    nc.subscribe(SUBJECTS.leaderReport, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const r = decodeDirectReport(msg.data);
          for (const c of r.completion ? [r.completion] : (r.batch?.completions ?? [])) keep(c);
        } catch {
          // not a report: ignore
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
