import type { ReadOnlyOption } from "./config.js";
import type { Message } from "./message.js";
import type { NodeId } from "./types.js";

/** One pending ReadIndex request at the leader. */
export interface ReadIndexStatus {
  readonly req: Message;
  readonly index: number;
  readonly acks: Map<NodeId, boolean>;
}

/** Request contexts are compared by content; a binary-safe string key does that cheaply. */
function key(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString("latin1");
}

/**
 * Linearizable reads without log writes (dissertation §6.4, etcd's readOnly). The leader records
 * its commit index for each request, attaches the request ctx to a heartbeat round, and answers
 * once a quorum acknowledged that heartbeat — proving it was still leader when the read arrived.
 * Acks for a later request also confirm every earlier one, so requests are released in order.
 */
export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  constructor(readonly option: ReadOnlyOption) {}

  addRequest(index: number, m: Message): void {
    const k = key(m.context!);
    if (this.pending.has(k)) return;
    this.pending.set(k, { req: m, index, acks: new Map() });
    this.queue.push(k);
  }

  /** Records a heartbeat ack for ctx; returns the acks so far (undefined if unknown ctx). */
  recvAck(id: NodeId, ctx: Uint8Array): Map<NodeId, boolean> | undefined {
    const rs = this.pending.get(key(ctx));
    if (!rs) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /** Releases the request with ctx and every request queued before it. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const k = key(ctx);
    const i = this.queue.indexOf(k);
    if (i < 0) return [];
    const released = this.queue.slice(0, i + 1);
    this.queue = this.queue.slice(i + 1);
    const out: ReadIndexStatus[] = [];
    for (const rk of released) {
      const rs = this.pending.get(rk);
      if (rs) out.push(rs);
      this.pending.delete(rk);
    }
    return out;
  }

  lastPendingRequestCtx(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)?.req.context;
  }
}
