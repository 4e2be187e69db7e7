import type { JsMsg } from "@nats-io/jetstream";

/**
 * What a handler may do with the message it is working on. Whatever it does not settle
 * itself is settled by the consume loop: ack on success, nak (with backoff) on a throw.
 */
export interface WorkContext {
  readonly subject: string;
  readonly streamSeq: number;
  /** 1 on first delivery; > 1 means an earlier attempt was not acked in time. */
  readonly deliveryCount: number;
  /** The Nats-Msg-Id the publisher set, if any. */
  readonly msgId: string | undefined;
  /** Aborted when the consumer stops and the grace period ran out: stop work, nothing is acked. */
  readonly signal: AbortSignal;
  /** Tell the server we are still working (resets its ack-wait clock). */
  inProgress(): void;
  /** Run `work`, sending in-progress acks every `intervalMs` (default: ack wait / 3) meanwhile. */
  keepAlive<T>(work: () => Promise<T>, intervalMs?: number): Promise<T>;
  /** Release for redelivery after `delayMs` instead of acking (a retryable failure). */
  nak(delayMs?: number): void;
  /** Never redeliver (a permanent failure); `reason` is logged. */
  term(reason: string): void;
  /** True once acked, nak'ed or terminated. */
  readonly settled: boolean;
}

/** The WorkContext of one delivered message (internal to the consume loop). */
export class MessageContext implements WorkContext {
  readonly subject: string;
  readonly streamSeq: number;
  readonly deliveryCount: number;
  readonly msgId: string | undefined;
  private readonly abort = new AbortController();
  private settledAs: "ack" | "nak" | "term" | undefined;
  termReason: string | undefined;

  constructor(
    private readonly msg: JsMsg,
    private readonly defaultKeepAliveMs: number,
  ) {
    this.subject = msg.subject;
    this.streamSeq = msg.info.streamSequence;
    this.deliveryCount = msg.info.deliveryCount;
    this.msgId = msg.headers?.get("Nats-Msg-Id") || undefined;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get settled(): boolean {
    return this.settledAs !== undefined;
  }

  get outcome(): "ack" | "nak" | "term" | undefined {
    return this.settledAs;
  }

  inProgress(): void {
    if (this.settled || this.abort.signal.aborted) return;
    try {
      this.msg.working();
    } catch {
      // Connection closed or draining: the server will redeliver after ack_wait anyway.
    }
  }

  async keepAlive<T>(work: () => Promise<T>, intervalMs = this.defaultKeepAliveMs): Promise<T> {
    const timer = setInterval(() => this.inProgress(), Math.max(50, intervalMs));
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  nak(delayMs?: number): void {
    if (this.settled) return;
    this.settledAs = "nak";
    this.msg.nak(delayMs);
  }

  term(reason: string): void {
    if (this.settled) return;
    this.settledAs = "term";
    this.termReason = reason;
    // No reason on the wire: nats-server 2.9 only recognises a bare +TERM.
    this.msg.term();
  }

  /** Ack and wait for the server to confirm; false if the confirmation did not arrive. */
  async ack(): Promise<boolean> {
    if (this.settled) return true;
    this.settledAs = "ack";
    try {
      return await this.msg.ackAck({ timeout: 5_000 });
    } catch {
      return false;
    }
  }

  /** Stop-time release: abort the handler and hand the message back at once. */
  release(): void {
    this.abort.abort(new Error("consumer stopped"));
    try {
      this.nak(0);
    } catch {
      // Connection already gone: the server redelivers after ack_wait.
    }
  }

  /** The connection closed: abort the handler; nothing can be sent any more. */
  abandon(): void {
    this.settledAs ??= "nak";
    this.abort.abort(new Error("connection closed"));
  }
}
