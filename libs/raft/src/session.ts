import { RaftArgumentError, RaftDecodeError } from "./errors.js";

/**
 * Client sessions for exactly-once commands (Raft dissertation §6.3), as a pure data structure
 * that a replicated state machine embeds and snapshots.
 *
 * A client registers once (the registration is itself a committed command; its log index is a
 * good unique client id), then tags every command with (clientId, seq), seq = 1, 2, 3, ...
 * Applying a command whose seq was already applied returns the cached response instead of
 * executing it again, so a command retried after a leader change or a lost reply takes effect
 * exactly once. The client also reports `ackedSeq`, the highest seq whose response it has
 * received in full, so the table can drop those responses (bounded memory per client).
 *
 * Expiry is deterministic: `now` is a time stamped into the log by the leader (never a local
 * clock), so every replica expires the same sessions at the same log position. A command for an
 * unknown or expired session is refused (status "session-expired") rather than applied, because
 * the table can no longer tell whether it is a duplicate; the client must register again.
 */

export interface ResponseCodec<R> {
  encode(r: R): Uint8Array;
  decode(b: Uint8Array): R;
}

const BYTES_CODEC: ResponseCodec<Uint8Array> = { encode: (r) => r, decode: (b) => b };

export interface SessionTableOptions<R> {
  /** At most this many sessions; registering one more evicts the least recently used. */
  maxSessions: number;
  /** A session unused for this long (in the units of `now`) expires. 0 = never. */
  ttl?: number;
  /** Serializes responses for snapshots. Default: responses are Uint8Array. */
  codec?: ResponseCodec<R>;
}

export type ApplyResult<R> =
  | { status: "applied"; response: R }
  | { status: "duplicate"; response: R }
  /** seq is older than the responses still kept (the client already acknowledged it). */
  | { status: "stale" }
  | { status: "session-expired" };

interface Session<R> {
  lastActive: number;
  /** Highest seq applied. */
  lastSeq: number;
  /** Responses for seq in (ackedSeq, lastSeq] (a client may have several commands in flight). */
  responses: Map<number, R>;
  ackedSeq: number;
}

function checkSeq(field: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RaftArgumentError(field, `must be a non-negative integer, got ${String(v)}`);
  }
}

export class ClientSessionTable<R = Uint8Array> {
  /** Map iteration order is recency order (least recently used first). */
  private sessions = new Map<string, Session<R>>();
  private readonly maxSessions: number;
  private readonly ttl: number;
  private readonly codec: ResponseCodec<R>;

  constructor(opts: SessionTableOptions<R>) {
    if (!Number.isSafeInteger(opts.maxSessions) || opts.maxSessions <= 0) {
      throw new RaftArgumentError(
        "maxSessions",
        `must be a positive integer, got ${String(opts.maxSessions)}`,
      );
    }
    const ttl = opts.ttl ?? 0;
    if (!Number.isFinite(ttl) || ttl < 0)
      throw new RaftArgumentError("ttl", `must be >= 0, got ${String(ttl)}`);
    this.maxSessions = opts.maxSessions;
    this.ttl = ttl;
    this.codec = opts.codec ?? (BYTES_CODEC as unknown as ResponseCodec<R>);
  }

  get size(): number {
    return this.sessions.size;
  }

  has(clientId: string): boolean {
    return this.sessions.has(clientId);
  }

  /** Opens a session (idempotent: re-registering an existing id keeps its history). */
  register(clientId: string, now: number): void {
    if (typeof clientId !== "string" || clientId.length === 0) {
      throw new RaftArgumentError("clientId", "must be a non-empty string");
    }
    this.expire(now);
    const s = this.sessions.get(clientId);
    if (s) {
      this.touch(clientId, s, now);
      return;
    }
    while (this.sessions.size >= this.maxSessions) {
      const lru = this.sessions.keys().next().value as string;
      this.sessions.delete(lru);
    }
    this.sessions.set(clientId, { lastActive: now, lastSeq: 0, responses: new Map(), ackedSeq: 0 });
  }

  /**
   * Applies command (clientId, seq) exactly once: `execute` runs only if seq is new, and its
   * response is cached for retries. `ackedSeq` (optional) lets the table forget responses the
   * client has received.
   */
  apply(
    clientId: string,
    seq: number,
    now: number,
    execute: () => R,
    ackedSeq = 0,
  ): ApplyResult<R> {
    checkSeq("seq", seq);
    checkSeq("ackedSeq", ackedSeq);
    if (seq === 0) throw new RaftArgumentError("seq", "must start at 1");
    this.expire(now);
    const s = this.sessions.get(clientId);
    if (!s) return { status: "session-expired" };
    this.touch(clientId, s, now);
    if (ackedSeq > s.ackedSeq) {
      for (const k of s.responses.keys()) if (k <= ackedSeq) s.responses.delete(k);
      s.ackedSeq = ackedSeq;
    }
    if (seq <= s.lastSeq) {
      const cached = s.responses.get(seq);
      if (cached !== undefined) return { status: "duplicate", response: cached };
      // Either acknowledged (the client cannot be waiting for it) or skipped: never re-run.
      return { status: "stale" };
    }
    if (seq <= s.ackedSeq) return { status: "stale" };
    const response = execute();
    s.lastSeq = seq;
    s.responses.set(seq, response);
    return { status: "applied", response };
  }

  /** Drops sessions idle for longer than ttl as of log time `now`. */
  expire(now: number): void {
    if (this.ttl === 0) return;
    // LRU order means the first non-expired session ends the scan.
    for (const [id, s] of this.sessions) {
      if (now - s.lastActive <= this.ttl) break;
      this.sessions.delete(id);
    }
  }

  private touch(clientId: string, s: Session<R>, now: number): void {
    if (now > s.lastActive) s.lastActive = now;
    this.sessions.delete(clientId);
    this.sessions.set(clientId, s);
  }

  /** A deterministic image of the table for the state machine's snapshot. */
  serialize(): Uint8Array {
    const out: unknown[] = [];
    for (const [id, s] of this.sessions) {
      const responses: [number, string][] = [];
      for (const [seq, r] of s.responses) {
        responses.push([seq, Buffer.from(this.codec.encode(r)).toString("base64")]);
      }
      out.push([id, s.lastActive, s.lastSeq, s.ackedSeq, responses]);
    }
    return new TextEncoder().encode(JSON.stringify({ v: 1, sessions: out }));
  }

  /** Replaces the table's contents with a serialized image. */
  restore(bytes: Uint8Array): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new RaftDecodeError("ClientSessionTable", `not JSON (${(e as Error).message})`);
    }
    const obj = parsed as { v?: unknown; sessions?: unknown };
    if (obj === null || typeof obj !== "object" || obj.v !== 1 || !Array.isArray(obj.sessions)) {
      throw new RaftDecodeError("ClientSessionTable", "missing version 1 header or sessions array");
    }
    const sessions = new Map<string, Session<R>>();
    for (const row of obj.sessions as unknown[]) {
      if (!Array.isArray(row) || row.length !== 5)
        throw new RaftDecodeError("ClientSessionTable", "bad session row");
      const [id, lastActive, lastSeq, ackedSeq, responses] = row as [
        unknown,
        unknown,
        unknown,
        unknown,
        unknown,
      ];
      if (
        typeof id !== "string" ||
        typeof lastActive !== "number" ||
        !Number.isSafeInteger(lastSeq) ||
        !Number.isSafeInteger(ackedSeq) ||
        !Array.isArray(responses)
      ) {
        throw new RaftDecodeError("ClientSessionTable", `bad fields in session ${String(id)}`);
      }
      const m = new Map<number, R>();
      for (const pair of responses as unknown[]) {
        if (!Array.isArray(pair) || !Number.isSafeInteger(pair[0]) || typeof pair[1] !== "string") {
          throw new RaftDecodeError("ClientSessionTable", `bad response in session ${id}`);
        }
        m.set(
          pair[0] as number,
          this.codec.decode(new Uint8Array(Buffer.from(pair[1] as string, "base64"))),
        );
      }
      sessions.set(id, {
        lastActive,
        lastSeq: lastSeq as number,
        ackedSeq: ackedSeq as number,
        responses: m,
      });
    }
    this.sessions = sessions;
  }
}
