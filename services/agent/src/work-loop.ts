// The pull loop: `slots` workers each take one work item at a time from the pool's durable
// consumer, run it, publish the completion and only then ack (at-least-once: a crash between
// the two redelivers the item, and deterministic keys make the repeat harmless).
//
// A slot is free again once its item has run: publishing the completion (a JetStream round
// trip) and settling the message happen behind it, so the next item's reads overlap them. At
// most `slots` items wait to be settled; a worker finding that many waits for one to finish.

import type { Logger } from "@tessera/observability";
import { decodeWorkItem, type WorkItemV1 } from "@tessera/protocol";
import type { RunningTask } from "./heartbeat.js";
import type { ExecutionOutcome } from "./task-executor.js";

/** The JetStream message operations the loop uses (structurally a JsMsg). */
export interface WorkMessage {
  readonly data: Uint8Array;
  readonly info: { readonly deliveryCount: number };
  ack(): void;
  nak(delayMs?: number): void;
  term(reason?: string): void;
  /** In-progress ack: restarts the server's ack-wait timer. */
  working(): void;
}

export interface WorkSource {
  /** Next message or null when none arrived within the source's poll window. */
  next(): Promise<WorkMessage | null>;
}

export interface WorkLoopOptions {
  slots: number;
  ackWaitMs: number;
  maxDeliver: number;
  source: WorkSource;
  execute(item: WorkItemV1): Promise<ExecutionOutcome>;
  /** Publishes a completion and resolves once JetStream has stored it. */
  publishCompletion(outcome: ExecutionOutcome): Promise<void>;
  logger: Logger;
}

/** Redelivery delay for transient failures, so a flapping store is not hammered. */
const TRANSIENT_RETRY_DELAY_MS = 2_000;

export class WorkLoop {
  private readonly running = new Map<string, RunningTask & { msg: WorkMessage }>();
  private stopping = false;
  private paused: boolean;
  private workers: Promise<void>[] = [];
  private wake: (() => void) | undefined;
  /** Items run whose completion is being published / message settled. */
  private readonly settling = new Set<Promise<void>>();
  private readonly settleWaiters: (() => void)[] = [];

  constructor(
    private readonly opts: WorkLoopOptions,
    startPaused = false,
  ) {
    this.paused = startPaused;
  }

  runningTasks(): RunningTask[] {
    return [...this.running.values()].map(({ jobId, taskId, attempt, startedAt }) => ({
      jobId,
      taskId,
      attempt,
      startedAt,
    }));
  }

  start(): void {
    for (let slot = 0; slot < this.opts.slots; slot++) this.workers.push(this.worker(slot));
  }

  /** Standby → active: workers begin pulling. */
  resume(): void {
    this.paused = false;
    this.wake?.();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * Stops pulling; waits up to `graceMs` for running items to finish (their completions are
   * published and acked as usual), then naks whatever is still running so another agent gets
   * it at once instead of after ack_wait. Resolves when every worker has exited.
   */
  async stop(graceMs: number): Promise<{ released: number }> {
    this.stopping = true;
    this.wake?.();
    // Workers first (they may still hand items over to be settled), then every settle.
    const all = Promise.all(this.workers).then(() => Promise.all([...this.settling]));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    let released = 0;
    if (timedOut) {
      for (const task of this.running.values()) {
        task.msg.nak();
        released++;
        this.opts.logger.warn(
          { jobId: task.jobId, taskId: task.taskId, attempt: task.attempt },
          "drain grace period over: released running work item (nak)",
        );
      }
    }
    return { released };
  }

  private async worker(slot: number): Promise<void> {
    while (!this.stopping) {
      if (this.paused) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      let msg: WorkMessage | null;
      try {
        msg = await this.opts.source.next();
      } catch (err) {
        if (this.stopping) break;
        this.opts.logger.warn({ err, slot }, "pulling work failed; retrying");
        await sleep(500);
        continue;
      }
      if (!msg) continue;
      if (this.stopping) {
        // Pulled after the stop began: hand it straight back rather than start new work.
        msg.nak();
        break;
      }
      await this.handle(msg);
    }
  }

  private async handle(msg: WorkMessage): Promise<void> {
    let item: WorkItemV1;
    try {
      item = decodeWorkItem(msg.data);
    } catch (err) {
      // A malformed item fails the same way on every agent: terminate, never redeliver forever.
      this.opts.logger.error({ err }, "rejected work item that failed validation (terminated)");
      msg.term(err instanceof Error ? err.message.slice(0, 200) : "invalid work item");
      return;
    }
    const log = this.opts.logger.child({
      jobId: item.jobId,
      taskId: item.taskId,
      attempt: item.attempt,
    });
    const key = `${item.itemId}#${msg.info.deliveryCount}`;
    this.running.set(key, {
      jobId: item.jobId,
      taskId: item.taskId,
      attempt: item.attempt,
      startedAt: Date.now(),
      msg,
    });
    // Long kernels or slow stores must not let ack_wait expire and cause a needless redelivery.
    const keepAlive = setInterval(
      () => msg.working(),
      Math.max(250, Math.floor(this.opts.ackWaitMs / 3)),
    );
    const done = () => {
      clearInterval(keepAlive);
      this.running.delete(key);
    };
    let handedOver = false;
    try {
      log.debug({ delivery: msg.info.deliveryCount, kind: item.kind }, "work item started");
      const outcome = await this.opts.execute(item);
      const lastDelivery = msg.info.deliveryCount >= this.opts.maxDeliver;
      if (outcome.completion.status === "failed" && outcome.retryable && !lastDelivery) {
        log.warn({ err: outcome.error }, "transient failure; work item handed back for redelivery");
        msg.nak(TRANSIENT_RETRY_DELAY_MS);
        return;
      }
      while (this.settling.size >= this.opts.slots) {
        await new Promise<void>((resolve) => this.settleWaiters.push(resolve));
      }
      const settled = this.settle(msg, outcome, log)
        .catch((err: unknown) => log.error({ err }, "settling the work item failed"))
        .finally(() => {
          done();
          this.settling.delete(settled);
          for (const w of this.settleWaiters.splice(0)) w();
        });
      this.settling.add(settled);
      handedOver = true;
    } finally {
      if (!handedOver) done();
    }
  }

  /** Publishes the completion, then acks (ok) or terminates (failed) the message. */
  private async settle(msg: WorkMessage, outcome: ExecutionOutcome, log: Logger): Promise<void> {
    try {
      await this.opts.publishCompletion(outcome);
    } catch (err) {
      // Without a stored completion the item must not be acked: let it come back.
      log.error({ err }, "publishing the completion failed; work item handed back");
      msg.nak(TRANSIENT_RETRY_DELAY_MS);
      return;
    }
    const c = outcome.completion;
    if (c.status === "ok") {
      msg.ack();
      log.info(
        { key: c.output?.key, checksum: c.output?.checksum, timings: c.timings },
        "work item completed",
      );
    } else {
      // Reported as failed; the control plane decides on a new attempt. Redelivering the same
      // item would read the same corrupt bytes / hit the same bug again.
      msg.term(c.error?.code);
      log.error(
        { err: outcome.error, code: c.error?.code },
        "work item failed; completion reported, item terminated",
      );
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
