/**
 * A minority cut off by fault injection (the old leader and one follower of five) cannot commit,
 * while the majority elects a leader and keeps committing; after healing, everyone converges and
 * the minority's unanswered command, retried with the same session seq, applies exactly once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { checkExactlyOnce, peerJobs, waitConverged } from "./checks.js";
import { ClientSession, countedJob, encodeEnvelope } from "./commands.js";
import { grpcDoor, parseReply } from "./doors.js";
import { type Rig, startRig } from "./scenario.test-helpers.js";
import { waitForProgress } from "./workload.js";

let rig: Rig | undefined;

// A failed test keeps its cluster's logs (the path is printed); a passing one removes them.
afterEach(async (ctx) => {
  const kept = await rig?.close(ctx.task.result?.state === "fail");
  if (kept) console.error(`consensus logs kept in ${kept}`);
  rig = undefined;
});

/** A seed no writer uses (writers start at 1). */
const MINORITY_SEED = 999_000_001;

describe("network partition via fault injection (real processes)", () => {
  it("a minority cannot commit while the majority does; all converge after healing", async () => {
    rig = await startRig({ size: 5, name: "partition", nats: false, jetstream: false });
    const { cluster, clients, ledger } = rig;
    rig.addWriter("grpc");
    rig.addWriter("http");
    await waitForProgress(ledger, ["grpc", "http"], 5, 60_000, "before the partition");

    const old = await cluster.waitForLeader();
    const follower = cluster.peers.find((p) => p.id !== old.peer.id)!;
    const minority = [old.peer.id, follower.id];
    const majority = cluster.peers.filter((p) => !minority.includes(p.id));
    await cluster.partition(minority);

    // The majority elects a leader of its own and keeps committing.
    const fresh = await cluster.waitForLeader({ exclude: minority, minTerm: old.term });
    expect(majority.map((p) => p.id)).toContain(fresh.peer.id);
    await waitForProgress(ledger, ["grpc", "http"], 10, 60_000, "in the majority");

    // By now everything sent before the cut has arrived: the minority's commit index is final.
    const minorityCommit = await Promise.all(
      minority.map(
        async (id) => (await cluster.grpc.info(cluster.peer(id).grpcAddress)).commitIndex,
      ),
    );

    // A command sent straight to the old leader never commits (refused, or no answer in time).
    const session = new ClientSession("partition-minority");
    const env = session.next(countedJob(MINORITY_SEED));
    const outcome = await clients
      .propose(old.peer.grpcAddress, encodeEnvelope(env), 3_000)
      .then((r) => ({ committed: parseReply(r.reply) }))
      .catch((err: unknown) => ({ refused: (err as Error).message }));
    expect(outcome, "the isolated old leader committed a command").toHaveProperty("refused");

    await waitForProgress(ledger, ["grpc", "http"], 10, 60_000, "in the majority, again");
    for (const [i, id] of minority.entries()) {
      const view = await cluster.grpc.info(cluster.peer(id).grpcAddress);
      expect(view.commitIndex, `minority peer ${id} advanced its commit index`).toBe(
        minorityCommit[i],
      );
      expect(view.role).not.toBe("leader");
      expect((await peerJobs(cluster.peer(id))).seeds.has(MINORITY_SEED)).toBe(false);
    }
    for (const p of majority) {
      expect((await peerJobs(p)).seeds.has(MINORITY_SEED)).toBe(false);
    }

    await cluster.heal();
    await waitForProgress(ledger, ["grpc", "http"], 10, 60_000, "after healing");
    // The unanswered command is retried with the same seq: applied once, wherever it ended up.
    const submit = grpcDoor(clients, () => cluster.peers.map((p) => p.grpcAddress));
    let reply: Awaited<ReturnType<typeof submit>> | undefined;
    for (let i = 0; i < 200 && !reply; i++) reply = await submit(env).catch(() => undefined);
    expect(reply?.reply.ok).toBe(true);
    ledger.sent.set(MINORITY_SEED, {
      seed: MINORITY_SEED,
      door: "grpc",
      clientId: env.clientId,
      seq: env.seq,
    });
    ledger.acked.set(MINORITY_SEED, ledger.sent.get(MINORITY_SEED)!);

    await rig.drainWriters();
    const views = await waitConverged(cluster);
    const report = await checkExactlyOnce(cluster, ledger);
    expect(new Set(views.map((v) => v.digest)).size).toBe(1);
    console.info(
      `partition: minority ${minority.join(",")} held commit at ${minorityCommit.join("/")}; majority leader ${fresh.peer.id}; ` +
        `after heal ${report.appliedPerPeer} jobs on all ${report.peers} peers, applied ${views[0]?.appliedIndex}`,
    );
  });
});
