/**
 * Bad commands (schema errors, unknown job, stale attempt, oversized) are rejected with a reason
 * over gRPC and HTTP; over JetStream they are terminated or answered with a rejection, and a
 * good command published after them is still applied (the consumer never stalls).
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { peerJobs, waitConverged } from "./checks.js";
import {
  type BadCommand,
  badCommands,
  ClientSession,
  countedJob,
  encodeEnvelope,
} from "./commands.js";
import { CMD_SUBJECT, grpcDoor, msgIdOf, parseReply } from "./doors.js";
import { ManifestCallError } from "./grpc-client.js";
import { httpJson, isRecord } from "./http.js";
import { type Rig, startRig } from "./scenario.test-helpers.js";

const JOB = "bad-commands-fixture";
let rig: Rig;
let failed = false;

/** What a door said about one bad command. */
interface Rejection {
  readonly code: string;
  readonly reason: string;
}

beforeAll(async () => {
  rig = await startRig({ size: 3, name: "bad-commands" });
  const submit = grpcDoor(rig.clients, () => rig.cluster.peers.map((p) => p.grpcAddress));
  const session = new ClientSession("bad-commands-setup");
  // The fixture: a one-tile job whose Map task m-0-0-0 has live attempt 1.
  const steps = [
    { type: "submit-job", jobId: JOB, spec: { n: 16, tile: 16, mode: "exact", seed: 7 } },
    { type: "attempt-start", jobId: JOB, taskId: "m-0-0-0", attempt: 1 },
  ] as const;
  for (const cmd of steps) {
    const env = session.next(cmd);
    let reply: Awaited<ReturnType<typeof submit>> | undefined;
    for (let i = 0; i < 100 && !reply; i++) reply = await submit(env).catch(() => undefined);
    expect(reply?.reply, `fixture ${cmd.type}`).toMatchObject({ ok: true });
    session.ack(env.seq);
  }
});

afterAll(async () => {
  const kept = await rig?.close(failed);
  if (kept) console.error(`consensus logs kept in ${kept}`);
});

const fail = () => {
  failed = true;
};

function expectRejected(bad: BadCommand, r: Rejection | undefined, door: string): void {
  expect(r, `${door}: "${bad.name}" was accepted`).toBeDefined();
  expect(r!.reason.length, `${door}: "${bad.name}" rejected without a reason`).toBeGreaterThan(0);
  // Schema errors and oversized commands may be refused at the door (before the log) with the
  // API's bad-request code; manifest rules (unknown job, stale attempt) come back as reply codes.
  if (bad.code === "schema-error" || bad.code === "oversized") {
    expect([bad.code, "TESSERA_E_CONSENSUS_BAD_REQUEST"], `${door}: "${bad.name}"`).toContain(
      r!.code,
    );
  } else {
    expect(r!.code, `${door}: "${bad.name}"`).toBe(bad.code);
  }
}

describe("bad commands (real processes)", () => {
  it("gRPC Propose rejects each with a code and a reason", async ({ onTestFailed }) => {
    onTestFailed(fail);
    const leader = await rig.cluster.waitForLeader();
    for (const bad of badCommands("bad-grpc", 1, JOB)) {
      const r = await rig.clients.propose(leader.peer.grpcAddress, bad.bytes).then(
        (ok) => {
          const reply = parseReply(ok.reply);
          return reply.ok ? undefined : { code: reply.code, reason: reply.reason };
        },
        (err: unknown) => {
          if (!(err instanceof ManifestCallError) || !err.invalid) throw err;
          return { code: err.serviceCode ?? "", reason: err.details };
        },
      );
      expectRejected(bad, r, "grpc");
    }
  });

  it("HTTP POST /v1/commands rejects each with a code and a reason", async ({ onTestFailed }) => {
    onTestFailed(fail);
    const leader = await rig.cluster.waitForLeader();
    for (const bad of badCommands("bad-http", 1, JOB)) {
      const res = await httpJson(
        "POST",
        `${leader.peer.httpUrl}/v1/commands`,
        Buffer.from(bad.bytes).toString("utf8"),
      );
      expect(res.status, `http: "${bad.name}" status`).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      const body = isRecord(res.body) ? res.body : {};
      const error = isRecord(body.error) ? body.error : {};
      const r: Rejection = {
        code: String(body.code ?? error.code ?? ""),
        reason: String(body.reason ?? error.message ?? ""),
      };
      expectRejected(bad, r, "http");
    }
  });

  it("JetStream: bad messages never stall the consumer; a good one after them applies", async ({
    onTestFailed,
  }) => {
    onTestFailed(fail);
    const nc = rig.nc!;
    const js = jetstream(nc);
    const bads = badCommands("bad-js", 1, JOB);
    for (const [i, bad] of bads.entries()) {
      await js.publish(CMD_SUBJECT, bad.bytes, { msgID: `bad-js-${i}` });
    }
    const session = new ClientSession("good-js");
    const good = session.next(countedJob(424_242));
    const goodAck = await js.publish(CMD_SUBJECT, encodeEnvelope(good), { msgID: msgIdOf(good) });

    // The good command shows up on the leader (the consumer went past every bad one).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const leader = await rig.cluster.waitForLeader();
      if ((await peerJobs(leader.peer)).seeds.has(424_242)) break;
      expect(Date.now(), "the good command after the bad ones was never applied").toBeLessThan(
        deadline,
      );
      await new Promise((r) => setTimeout(r, 200));
    }
    // Every message up to the good one is settled for good: acked, or terminated (a terminated
    // message counts for the ack floor; one that is merely redelivered again never does).
    const jsm = await jetstreamManager(nc);
    const consumers = await jsm.consumers.list("TESSERA_CMD").next();
    expect(consumers.length).toBeGreaterThan(0);
    const settled = Date.now() + 30_000;
    for (const c of consumers) {
      for (;;) {
        const info = await jsm.consumers.info("TESSERA_CMD", c.name);
        if (info.ack_floor.stream_seq >= goodAck.seq && info.num_ack_pending === 0) break;
        expect(
          Date.now(),
          `consumer ${c.name}: ack floor at stream seq ${info.ack_floor.stream_seq} (want ${goodAck.seq}), ` +
            `${info.num_ack_pending} unacked, ${info.num_redelivered} redelivered: bad messages come back instead of being terminated`,
        ).toBeLessThan(settled);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const views = await waitConverged(rig.cluster);
    expect(new Set(views.map((v) => v.digest)).size).toBe(1);
  });
});
