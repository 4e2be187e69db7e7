// The pull loop: `slots` workers each take one work item at a time from the pool's durable
// consumer, run it, publish the completion and only then ack (at-least-once: a crash between
// the two redelivers the item, and deterministic keys make the repeat harmless).
//
// A slot is free again once its item has run: publishing the completion (a JetStream round
// trip) and settling the message happen behind it, so the next item's reads overlap them. At
// most `slots` items wait to be settled; a worker finding that many waits for one to finish.
//
// A message on `tessera.work.<pool>.batch` (WorkBatchV1, the batched path for short tasks) is
// handled the same way as a whole: its items run in order in one slot, their completions go out
// as ONE CompletionBatchV1, and only then is the message acked. A crash mid-batch redelivers the
// whole batch; the manifest refuses completions of attempts already complete. A transient failure
// of one item is reported failed (the scheduler retries that task with backoff): handing the
// whole message back would re-run the items that succeeded.
//
// A report may come back with work handed over by the leader (direct-reporter.ts): armed
// reduces the report started, bound to this node and published nowhere. They go to the front:
// the next free slot takes one before pulling, and a slot already waiting on a pull takes it at
// once (the pull stays open and its message is handled next).

import type { Logger } from "@tessera/observability";
import { decodeWorkBatch, decodeWorkItem, type WorkItemV1 } from "@tessera/protocol";
import type { RunningTask } from "./heartbeat.js";
import type { ExecutionOutcome } from "./task-executor.js";

/** The JetStream message operations the loop uses (structurally a JsMsg). */
export interface WorkMessage {
  /** `tessera.work.<pool>.<kind>` (one WorkItemV1) or `tessera.work.<pool>.batch` (WorkBatchV1). */
  readonly subject: string;
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
  /**
   * Reports a completion; resolves once it is committed or stored (then the message is
   * settled), with any work the leader handed over to this agent.
   */
  report(outcome: ExecutionOutcome): Promise<readonly WorkItemV1[] | undefined>;
  /** Reports one batch's completions as one message, the same way. */
  reportBatch(
    batchId: string,
    outcomes: readonly ExecutionOutcome[],
  ): Promise<readonly WorkItemV1[] | undefined>;
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
  /**
   * Work handed over in report replies, not started yet (first come, first run). Listed in
   * heartbeats like running work: the manifest binds it to this node, and a scheduler expires a
   * bound attempt that the node's heartbeats stop listing (a hand-over whose reply was lost).
   */
  private readonly handed: { readonly item: WorkItemV1; readonly acceptedAt: number }[] = [];
  private readonly handedWaiters = new Set<() => void>();

  constructor(
    private readonly opts: WorkLoopOptions,
    startPaused = false,
  ) {
    this.paused = startPaused;
  }

  /** What this node holds: work running, and handed-over work waiting for a slot. */
  runningTasks(): RunningTask[] {
    const running = [...this.running.values()].map(({ jobId, taskId, attempt, startedAt }) => ({
      jobId,
      taskId,
      attempt,
      startedAt,
    }));
    const queued = this.handed.map(({ item: { jobId, taskId, attempt }, acceptedAt }) => ({
      jobId,
      taskId,
      attempt,
      startedAt: acceptedAt,
    }));
    return [...running, ...queued];
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

  /** Whether work handed over in a report's reply would be started (not stopping or paused). */
  get takesWork(): boolean {
    return !this.stopping && !this.paused;
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
    // Handed over by a report answered after the slots stopped (a stopping agent asks for none):
    // bound to this node, they are retried once the manifest marks it failed.
    for (const { item } of this.handed.splice(0)) {
      this.opts.logger.warn(
        { jobId: item.jobId, taskId: item.taskId, attempt: item.attempt },
        "stopped with handed-over work not started; it is retried once this node is marked failed",
      );
    }
    return { released };
  }

  private async worker(slot: number): Promise<void> {
    /** A pull left open when handed work came first: its message is this slot's next. */
    let pull: Promise<WorkMessage | null> | undefined;
    while (!this.stopping || this.handed.length > 0) {
      if (this.paused && this.handed.length === 0) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      const mine = this.handed.shift();
      if (mine) {
        await this.run(mine.item, handedMessage(this.opts.maxDeliver));
        continue;
      }
      if (this.stopping) break;
      let msg: WorkMessage | null | "handed";
      let handedArrived: (() => void) | undefined;
      try {
        pull ??= this.opts.source.next();
        msg = await Promise.race([
          pull,
          new Promise<"handed">((resolve) => {
            handedArrived = () => resolve("handed");
            this.handedWaiters.add(handedArrived);
          }),
        ]);
      } catch (err) {
        pull = undefined;
        if (this.stopping) break;
        this.opts.logger.warn({ err, slot }, "pulling work failed; retrying");
        await sleep(500);
        continue;
      } finally {
        if (handedArrived) this.handedWaiters.delete(handedArrived);
      }
      if (msg === "handed") continue;
      pull = undefined;
      if (!msg) continue;
      if (this.stopping) {
        // Pulled after the stop began: hand it straight back rather than start new work.
        msg.nak();
        break;
      }
      await this.handle(msg);
    }
    // A pull still open when the slot stopped: whatever it brings goes straight back.
    void pull?.then((m) => m?.nak()).catch(() => undefined);
  }

  /** Work the leader handed over in a report's reply (or recovered later): run before anything pulled. */
  acceptHanded(items: readonly WorkItemV1[] | undefined): void {
    if (!items || items.length === 0) return;
    const acceptedAt = Date.now();
    for (const item of items) this.handed.push({ item, acceptedAt });
    for (const w of [...this.handedWaiters]) w();
    this.wake?.();
  }

  /**
   * Early work the committed report did not hand over (direct-reporter.ts): dropped if it has
   * not started. Started, it runs to the end; the manifest refuses its report.
   */
  withdrawHanded(items: readonly WorkItemV1[]): void {
    const ids = new Set(items.map((i) => i.itemId));
    const kept = this.handed.filter(({ item }) => !ids.has(item.itemId));
    this.handed.splice(0, this.handed.length, ...kept);
  }

  private async handle(msg: WorkMessage): Promise<void> {
    if (msg.subject.endsWith(".batch")) return this.handleBatch(msg);
    const item = this.decodeOrTerminate(msg, decodeWorkItem, "work item");
    if (item) await this.run(item, msg);
  }

  /** Runs one item (pulled, or handed over and already validated), then settles its message. */
  private async run(item: WorkItemV1, msg: WorkMessage): Promise<void> {
    const log = this.opts.logger.child({
      jobId: item.jobId,
      taskId: item.taskId,
      attempt: item.attempt,
    });
    const key = this.markRunning(item, msg);
    const keepAlive = this.keepAlive(msg);
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
      await this.handOver(() => this.settle(msg, outcome, log), log, done);
      handedOver = true;
    } finally {
      if (!handedOver) done();
    }
  }

  /** A WorkBatchV1: every item in order in this slot, then one report and one ack (above). */
  private async handleBatch(msg: WorkMessage): Promise<void> {
    const batch = this.decodeOrTerminate(msg, decodeWorkBatch, "work batch");
    if (!batch) return;
    const log = this.opts.logger.child({ jobId: batch.jobId, batch: batch.batchId });
    const keepAlive = this.keepAlive(msg);
    const outcomes: ExecutionOutcome[] = [];
    let handedOver = false;
    try {
      log.debug(
        { delivery: msg.info.deliveryCount, items: batch.items.length },
        "work batch started",
      );
      for (const item of batch.items) {
        const key = this.markRunning(item, msg);
        try {
          outcomes.push(await this.opts.execute(item));
        } finally {
          this.running.delete(key);
        }
      }
      const stopKeepAlive = () => clearInterval(keepAlive);
      await this.handOver(
        () => this.settleBatch(msg, batch.batchId, outcomes, log),
        log,
        stopKeepAlive,
      );
      handedOver = true;
    } finally {
      if (!handedOver) clearInterval(keepAlive);
    }
  }

  /** The message's body, or undefined once it is terminated: a malformed one fails the same way
   * on every agent, so it is never redelivered. */
  private decodeOrTerminate<T>(
    msg: WorkMessage,
    decode: (bytes: Uint8Array) => T,
    what: string,
  ): T | undefined {
    try {
      return decode(msg.data);
    } catch (err) {
      this.opts.logger.error({ err }, `rejected ${what} that failed validation (terminated)`);
      msg.term(err instanceof Error ? err.message.slice(0, 200) : `invalid ${what}`);
      return undefined;
    }
  }

  /** Records `item` as running (heartbeats report it; stop() hands its message back); its key. */
  private markRunning(item: WorkItemV1, msg: WorkMessage): string {
    const key = `${item.itemId}#${msg.info.deliveryCount}`;
    const { jobId, taskId, attempt } = item;
    this.running.set(key, { jobId, taskId, attempt, startedAt: Date.now(), msg });
    return key;
  }

  /** Long kernels or slow stores must not let ack_wait expire and cause a needless redelivery. */
  private keepAlive(msg: WorkMessage): NodeJS.Timeout {
    return setInterval(() => msg.working(), Math.max(250, Math.floor(this.opts.ackWaitMs / 3)));
  }

  /**
   * Runs `settle` behind the slot (the slot takes its next message meanwhile), after waiting
   * while `slots` settles are already in flight; `settled` runs once it is over.
   */
  private async handOver(
    settle: () => Promise<void>,
    log: Logger,
    settled: () => void,
  ): Promise<void> {
    while (this.settling.size >= this.opts.slots) {
      await new Promise<void>((resolve) => this.settleWaiters.push(resolve));
    }
    const p = settle()
      .catch((err: unknown) => log.error({ err }, "settling the work message failed"))
      .finally(() => {
        settled();
        this.settling.delete(p);
        for (const w of this.settleWaiters.splice(0)) w();
      });
    this.settling.add(p);
  }

  /** Publishes the batch's completions, then acks: every item is reported, failures included. */
  private async settleBatch(
    msg: WorkMessage,
    batchId: string,
    outcomes: readonly ExecutionOutcome[],
    log: Logger,
  ): Promise<void> {
    try {
      this.acceptHanded(await this.opts.reportBatch(batchId, outcomes));
    } catch (err) {
      log.error({ err }, "publishing the batch's completions failed; work batch handed back");
      msg.nak(TRANSIENT_RETRY_DELAY_MS);
      return;
    }
    msg.ack();
    const failed = outcomes.filter((o) => o.completion.status === "failed");
    for (const o of failed) {
      const c = o.completion;
      log.error(
        { err: o.error, taskId: c.taskId, attempt: c.attempt, code: c.error?.code },
        "work item of a batch failed; reported failed",
      );
    }
    // One line for the batch, with each item's timings (what `tessera job profile` reads).
    const items = outcomes
      .filter((o) => o.completion.status === "ok")
      .map(({ completion: c }) => ({
        taskId: c.taskId,
        attempt: c.attempt,
        endAt: c.completedAt,
        timings: c.timings,
      }));
    log.info({ items, failed: failed.length }, "work batch completed");
  }

  /** Publishes the completion, then acks (ok) or terminates (failed) the message. */
  private async settle(msg: WorkMessage, outcome: ExecutionOutcome, log: Logger): Promise<void> {
    try {
      this.acceptHanded(await this.opts.report(outcome));
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

/**
 * The message behind handed-over work (validated with the reply that carried it): nothing to
 * ack, and nothing to redeliver, so a transient failure counts as the last delivery and is
 * reported (the scheduler retries it).
 */
function handedMessage(maxDeliver: number): WorkMessage {
  const none = () => undefined;
  return {
    subject: "",
    data: new Uint8Array(),
    info: { deliveryCount: maxDeliver },
    ack: none,
    nak: none,
    term: none,
    working: none,
  };
}
