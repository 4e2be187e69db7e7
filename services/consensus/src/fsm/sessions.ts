import type { ChunkWriter, Reader } from "./binary.js";
import { FsmOptionsError, FsmSnapshotError } from "./errors.js";

/**
 * Client sessions for exactly-once commands, embedded in the manifest state.
 *
 * Why not `ClientSessionTable` from @tessera/raft: that table (Raft dissertation §6.3) needs an
 * explicit registration command and treats any seq below the highest applied one as stale. Our
 * clients (gRPC callers, JetStream publishers) auto-create sessions on first use and may have
 * many commands in flight whose proposals can reach the log out of order, so a lower seq that
 * was never applied must still run. This table therefore keeps, per client:
 *   - `replies`: the encoded reply of every applied seq above `floor` (bounded per session);
 *   - `floor`: every seq <= floor is finished; its reply is no longer kept.
 * A seq above the floor runs once; a repeat returns the cached reply; a seq at or below the
 * floor that is not cached is refused (`stale-seq`): it may have run, and the table can no
 * longer tell, so it must not run again.
 *
 * Bounds (all in stamped log time, so every replica evicts at the same index):
 *   - `ackedSeq` from the client raises the floor and drops those replies;
 *   - at most `maxRepliesPerSession` replies: the oldest applied is dropped, its seq becomes the
 *     floor (with in-order clients that is the lowest seq);
 *   - sessions idle longer than `ttlMs` expire; beyond `maxSessions` the least recently used is
 *     evicted. An expired/evicted client starts afresh (floor 0) — a retry older than the TTL
 *     could then apply twice, which is why the TTL is hours while redelivery takes seconds.
 */

export interface SessionOptions {
  readonly maxSessions: number;
  readonly maxRepliesPerSession: number;
  readonly ttlMs: number;
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  maxSessions: 8192,
  maxRepliesPerSession: 256,
  ttlMs: 6 * 60 * 60 * 1000,
};

interface Session {
  lastActive: number;
  floor: number;
  /** seq → encoded reply (UTF-8 JSON without the duplicate flag). */
  replies: Map<number, Uint8Array>;
}

export type SessionCheck =
  | { readonly kind: "new" }
  | { readonly kind: "duplicate"; readonly reply: Uint8Array }
  | { readonly kind: "stale"; readonly floor: number };

export class SessionTable {
  /** Insertion order = recency order (least recently used first). */
  private sessions = new Map<string, Session>();
  readonly options: SessionOptions;

  constructor(options: Partial<SessionOptions> = {}) {
    const o = { ...DEFAULT_SESSION_OPTIONS, ...options };
    for (const [field, v] of Object.entries(o)) {
      if (!Number.isSafeInteger(v) || v <= 0) {
        throw new FsmOptionsError(`sessions.${field}`, `must be a positive integer, got ${v}`);
      }
    }
    this.options = o;
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Looks up (clientId, seq) as of log time `now`, creating the session on first use and
   * applying `ackedSeq`. The caller runs the command only for `new`, then calls `record`.
   */
  check(clientId: string, seq: number, ackedSeq: number, now: number): SessionCheck {
    this.expire(now);
    let s = this.sessions.get(clientId);
    if (s) {
      this.sessions.delete(clientId);
    } else {
      while (this.sessions.size >= this.options.maxSessions) {
        const lru = this.sessions.keys().next();
        if (lru.done) break;
        this.sessions.delete(lru.value);
      }
      s = { lastActive: now, floor: 0, replies: new Map() };
    }
    this.sessions.set(clientId, s);
    if (now > s.lastActive) s.lastActive = now;
    if (ackedSeq > s.floor) {
      for (const k of s.replies.keys()) if (k <= ackedSeq) s.replies.delete(k);
      s.floor = ackedSeq;
    }
    const cached = s.replies.get(seq);
    if (cached) return { kind: "duplicate", reply: cached };
    if (seq <= s.floor) return { kind: "stale", floor: s.floor };
    return { kind: "new" };
  }

  /** Caches the reply of a command that `check` called new (same clientId, same index). */
  record(clientId: string, seq: number, reply: Uint8Array): void {
    const s = this.sessions.get(clientId);
    if (!s) return;
    s.replies.set(seq, reply);
    if (s.replies.size > this.options.maxRepliesPerSession) {
      // Drop the oldest applied reply (O(1): Map order is apply order); its seq becomes the floor.
      // Replies still cached below the new floor keep answering as duplicates.
      const oldest = s.replies.keys().next();
      if (!oldest.done) {
        s.replies.delete(oldest.value);
        if (oldest.value > s.floor) s.floor = oldest.value;
      }
    }
  }

  /** Drops sessions idle for longer than the TTL as of log time `now`. */
  private expire(now: number): void {
    for (const [id, s] of this.sessions) {
      if (now - s.lastActive <= this.options.ttlMs) break;
      this.sessions.delete(id);
    }
  }

  /** Canonical image: sessions in recency order, replies in insertion (apply) order. */
  write(w: ChunkWriter): void {
    w.u32(this.sessions.size);
    for (const [id, s] of this.sessions) {
      w.str(id);
      w.f64(s.lastActive);
      w.f64(s.floor);
      w.u32(s.replies.size);
      for (const [seq, reply] of s.replies) {
        w.f64(seq);
        w.u32(reply.byteLength);
        w.bytes(reply);
      }
    }
  }

  /** Replaces the table with an image written by `write`. */
  read(r: Reader): void {
    const sessions = new Map<string, Session>();
    const count = r.u32("session count");
    for (let i = 0; i < count; i++) {
      const id = r.str("session id");
      const lastActive = r.f64("session lastActive");
      const floor = r.f64("session floor");
      const n = r.u32("session reply count");
      const replies = new Map<number, Uint8Array>();
      for (let k = 0; k < n; k++) {
        const seq = r.f64("reply seq");
        replies.set(seq, r.bytes(r.u32("reply length"), "reply"));
      }
      if (sessions.has(id)) throw new FsmSnapshotError(`duplicate session ${JSON.stringify(id)}`);
      sessions.set(id, { lastActive, floor, replies });
    }
    this.sessions = sessions;
  }
}
