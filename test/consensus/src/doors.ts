/**
 * The three doors a command can enter the manifest by, as `Submit` functions for the writers:
 * gRPC Propose, HTTP POST /v1/commands (own envelope, so retries are exactly-once), and a
 * JetStream publish on tessera.cmd.* with a Nats-Msg-Id. gRPC and HTTP follow the leader: a
 * NOT_LEADER answer names it; anything else moves on to the next peer.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { type Envelope, encodeEnvelope } from "./commands.js";
import { ManifestCallError, type ManifestClients } from "./grpc-client.js";
import { httpJson, isRecord } from "./http.js";
import type { Reply, Submit, Submitted } from "./workload.js";

/** Where a client sends next: the last leader it heard of, else round-robin. */
export class LeaderGuess {
  private i = 0;
  constructor(private readonly targets: () => readonly string[]) {}

  get current(): string {
    const t = this.targets();
    return t[this.i % t.length]!;
  }

  /** Move to `hint` when it is one of the targets, else to the next target. */
  moveOn(hint?: string): void {
    const t = this.targets();
    const at = hint === undefined ? -1 : t.indexOf(hint);
    this.i = at >= 0 ? at : (this.i + 1) % t.length;
  }
}

export class OutcomeUnknown extends Error {
  override name = "OutcomeUnknown";
}

export function parseReply(bytes: Uint8Array): Reply {
  const v = JSON.parse(Buffer.from(bytes).toString("utf8")) as unknown;
  if (!isRecord(v) || typeof v.ok !== "boolean") {
    throw new Error(`reply is not {ok, ...}: ${JSON.stringify(v).slice(0, 200)}`);
  }
  return v as Reply;
}

/** gRPC Propose to whichever peer leads; throws OutcomeUnknown for anything retryable. */
export function grpcDoor(
  clients: ManifestClients,
  addresses: () => readonly string[],
  timeoutMs = 5_000,
): Submit {
  const guess = new LeaderGuess(addresses);
  return async (env: Envelope): Promise<Submitted> => {
    const target = guess.current;
    try {
      const r = await clients.propose(target, encodeEnvelope(env), timeoutMs);
      return { reply: parseReply(r.reply), index: r.index };
    } catch (err) {
      if (err instanceof ManifestCallError) {
        if (err.invalid) {
          return { reply: { ok: false, code: err.serviceCode ?? "invalid", reason: err.details } };
        }
        guess.moveOn(err.notLeader ? err.leaderGrpc : undefined);
      } else {
        guess.moveOn();
      }
      throw new OutcomeUnknown(`grpc ${(err as Error).message}`, { cause: err });
    }
  };
}

/** POST /v1/commands with the client's own envelope; follows 307 and leader hints. */
export function httpDoor(urls: () => readonly string[], timeoutMs = 5_000): Submit {
  const guess = new LeaderGuess(urls);
  return async (env: Envelope): Promise<Submitted> => {
    let url = `${guess.current}/v1/commands`;
    for (let hop = 0; hop < 3; hop++) {
      let res: Awaited<ReturnType<typeof httpJson>>;
      try {
        res = await httpJson("POST", url, env, timeoutMs);
      } catch (err) {
        // A failed redirect target was never the guess (the 307 already moved the guess on):
        // moving on again would skip a peer every round, and could skip the leader forever.
        if (hop === 0) guess.moveOn();
        throw new OutcomeUnknown(`http ${(err as Error).message}`, { cause: err });
      }
      const body = isRecord(res.body) ? res.body : {};
      if (res.status === 307) {
        const loc = res.headers.get("location");
        if (!loc) break;
        url = loc;
        guess.moveOn(new URL(loc).origin);
        continue;
      }
      if (typeof body.ok === "boolean") {
        return {
          reply: body as unknown as Reply,
          index: typeof body.index === "number" ? body.index : undefined,
        };
      }
      const error = isRecord(body.error) ? body.error : {};
      const code = typeof error.code === "string" ? error.code : `HTTP ${res.status}`;
      if (res.status === 400) {
        return { reply: { ok: false, code, reason: String(error.message ?? "") } };
      }
      const leader = isRecord(error.leader) ? error.leader : {};
      guess.moveOn(typeof leader.http === "string" ? leader.http : undefined);
      throw new OutcomeUnknown(`http ${res.status} ${code} ${String(error.message ?? "")}`);
    }
    guess.moveOn();
    throw new OutcomeUnknown("http: redirect loop");
  };
}

/** The subject counted jobs are published on (inside TESSERA_CMD). */
export const CMD_SUBJECT = "tessera.cmd.job.submit";

/** Nats-Msg-Id of an envelope: a retried publish of the same (clientId, seq) is stored once. */
export const msgIdOf = (env: Envelope) => `${env.clientId}:${env.seq}`;

/**
 * JetStream publish: "acknowledged" = PubAck (stored in TESSERA_CMD). The service then owes one
 * application; there is no reply to wait for, so the writer does not advance ackedSeq.
 */
export function jetstreamDoor(js: JetStreamClient, subject = CMD_SUBJECT): Submit {
  return async (env: Envelope): Promise<Submitted> => {
    try {
      await js.publish(subject, encodeEnvelope(env), { msgID: msgIdOf(env), timeout: 5_000 });
    } catch (err) {
      throw new OutcomeUnknown(`jetstream publish: ${(err as Error).message}`, { cause: err });
    }
    return { reply: { ok: true } };
  };
}
