import { ClientSessionTable, type ResponseCodec } from "@tessera/raft";
import { applyKv, type KvInput, type KvOutput } from "../linearizability/kv-model.js";
import { hashString } from "./hash.js";

/** A client command as replicated in the log: (clientId, seq) identifies it across retries. */
export interface KvCommand {
  readonly clientId: number;
  readonly seq: number;
  /** Highest seq whose answer the client has (or gave up on): the table may forget those. */
  readonly ackedSeq: number;
  readonly input: KvInput;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify([cmd.clientId, cmd.seq, cmd.ackedSeq, cmd.input]));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const [clientId, seq, ackedSeq, input] = JSON.parse(decoder.decode(data)) as [
    number,
    number,
    number,
    KvInput,
  ];
  return { clientId, seq, ackedSeq, input };
}

/** What applying one command did. `duplicate`: a retry of an applied command, answered from the session. */
export interface ApplyOutcome {
  readonly clientId: number;
  readonly seq: number;
  readonly output: KvOutput | null;
  readonly duplicate: boolean;
}

/**
 * The replicated key/value store each simulated node applies committed entries to. Commands go
 * through the client-session table first, so a command retried with the same (clientId, seq) is
 * applied once and every retry gets the first answer (Raft dissertation §6.3).
 */
const outputCodec: ResponseCodec<KvOutput> = {
  encode: (r) => encoder.encode(JSON.stringify(r)),
  decode: (b) => JSON.parse(decoder.decode(b)) as KvOutput,
};

/**
 * Sessions are opened implicitly by a client's first command. That is deterministic (every replica
 * sees the same log) and safe here because the table never evicts: no TTL, and room for far more
 * clients than a simulation has.
 */
function newSessionTable(): ClientSessionTable<KvOutput> {
  return new ClientSessionTable<KvOutput>({ maxSessions: 1024, codec: outputCodec });
}

/**
 * The replicated key/value store each simulated node applies committed entries to. Commands go
 * through the ClientSessionTable, so a command retried with the same (clientId, seq) is applied
 * once and every retry gets the first answer (Raft dissertation §6.3).
 */
export class KvStateMachine {
  private data = new Map<string, string>();
  private sessions = newSessionTable();
  /** How many commands actually executed (duplicates excluded): for tests. */
  appliedCommands = 0;

  /** Applies the command in a committed entry at `index` (the session table's log time). */
  apply(data: Uint8Array, index: number): ApplyOutcome {
    const cmd = decodeCommand(data);
    const sid = `c${cmd.clientId}`;
    if (!this.sessions.has(sid)) this.sessions.register(sid, index);
    const r = this.sessions.apply(
      sid,
      cmd.seq,
      index,
      () => {
        const res = applyKv(this.data.get(cmd.input.key) ?? null, cmd.input);
        if (res.state === null) this.data.delete(cmd.input.key);
        else this.data.set(cmd.input.key, res.state);
        this.appliedCommands++;
        return res.output;
      },
      cmd.ackedSeq,
    );
    const base = { clientId: cmd.clientId, seq: cmd.seq };
    switch (r.status) {
      case "applied":
        return { ...base, output: r.response, duplicate: false };
      case "duplicate":
        return { ...base, output: r.response, duplicate: true };
      default:
        // The client moved past this seq (or the session is gone): nothing runs, nobody waits.
        return { ...base, output: null, duplicate: true };
    }
  }

  read(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  /** Deterministic image (sorted keys) so equal states give equal bytes on every node. */
  snapshot(): Uint8Array {
    const keys = [...this.data.keys()].sort();
    return encoder.encode(
      JSON.stringify({
        kv: keys.map((k) => [k, this.data.get(k)]),
        sessions: decoder.decode(this.sessions.serialize()),
        applied: this.appliedCommands,
      }),
    );
  }

  restore(image: Uint8Array): void {
    this.data = new Map();
    this.sessions = newSessionTable();
    this.appliedCommands = 0;
    if (image.length === 0) return;
    const parsed = JSON.parse(decoder.decode(image)) as {
      kv: [string, string][];
      sessions: string;
      applied: number;
    };
    for (const [k, v] of parsed.kv) this.data.set(k, v);
    this.sessions.restore(encoder.encode(parsed.sessions));
    this.appliedCommands = parsed.applied;
  }

  /** Digest of the whole state (data and sessions), for the end-of-run convergence check. */
  digest(): number {
    return hashString(decoder.decode(this.snapshot()));
  }

  entries(): [string, string][] {
    return [...this.data.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }
}
