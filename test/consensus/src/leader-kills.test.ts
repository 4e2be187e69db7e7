/**
 * SIGKILL the leader over and over while clients submit through gRPC, HTTP and JetStream; at the
 * end every acknowledged command is applied exactly once on every peer and all peers hold the
 * same FSM digest. Kill counts can be raised with TESSERA_CONSENSUS_KILLS_3 / _5.
 */
import { afterEach, describe, expect, it } from "vitest";
import { checkExactlyOnce, waitConverged, waitForJetStreamApplied } from "./checks.js";
import { ledgerSummary, type Rig, startRig } from "./scenario.test-helpers.js";
import { waitForProgress } from "./workload.js";

const envInt = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

let rig: Rig | undefined;

// A failed test keeps its cluster's logs (the path is printed); a passing one removes them.
afterEach(async (ctx) => {
  const kept = await rig?.close(ctx.task.result?.state === "fail");
  if (kept) console.error(`consensus logs kept in ${kept}`);
  rig = undefined;
});

async function leaderKills(size: number, kills: number, name: string): Promise<void> {
  rig = await startRig({ size, name });
  const { cluster, ledger } = rig;
  rig.addWriter("grpc");
  rig.addWriter("grpc");
  rig.addWriter("http");
  // JetStream writers are paced: a PubAck does not wait for consensus, so an unpaced writer
  // would only pile up a backlog.
  rig.addWriter("jetstream", 100);
  rig.addWriter("jetstream", 100);

  const killed: number[] = [];
  // Where the time goes, per round (printed, never asserted): progress, election, restart.
  const phases = { progress: 0, election: 0, restart: 0 };
  let restarting: Promise<void> = Promise.resolve();
  for (let i = 0; i < kills; i++) {
    // Each round: the cluster makes progress through gRPC and HTTP (while the peer killed last
    // round starts up again), then loses its leader.
    let t = Date.now();
    await Promise.all([
      restarting,
      waitForProgress(ledger, ["grpc", "http"], 2, 60_000, `before kill ${i + 1}`),
    ]);
    const leader = await cluster.waitForLeader({ timeoutMs: 60_000 });
    phases.progress += Date.now() - t;
    t = Date.now();
    await cluster.kill(leader.peer.id);
    killed.push(leader.peer.id);
    await cluster.waitForLeader({
      exclude: [leader.peer.id],
      minTerm: leader.term,
      timeoutMs: 60_000,
    });
    phases.election += Date.now() - t;
    const started = Date.now();
    restarting = cluster.restart(leader.peer.id).then(() => {
      phases.restart += Date.now() - started;
    });
  }
  await restarting;
  await waitForProgress(ledger, ["grpc", "http"], 3, 60_000, "after the last kill");
  await rig.drainWriters();
  await waitForJetStreamApplied(cluster, ledger);
  const views = await waitConverged(cluster);
  const report = await checkExactlyOnce(cluster, ledger);

  console.info(
    `${name}: ${kills} leader kills (peers ${killed.join(",")}); acked ${ledgerSummary(ledger)}; ` +
      `${report.appliedPerPeer} jobs on each of ${report.peers} peers (${report.unackedApplied} unacknowledged but applied); ` +
      `applied index ${views[0]?.appliedIndex}, digest ${views[0]?.digest?.slice(0, 16)}; ` +
      `ms spent: ${JSON.stringify(phases)}`,
  );
  expect(new Set(views.map((v) => v.digest)).size).toBe(1);
  expect(report.appliedPerPeer).toBeGreaterThanOrEqual(ledger.acked.size);
  expect(ledger.ackedBy("jetstream")).toBeGreaterThan(0);
  expect(ledger.ackedBy("grpc")).toBeGreaterThan(0);
  expect(ledger.ackedBy("http")).toBeGreaterThan(0);
}

describe("leader SIGKILL under load (real processes)", () => {
  it("3 peers: every acknowledged command applied exactly once, equal digests", async () => {
    await leaderKills(3, envInt("TESSERA_CONSENSUS_KILLS_3", 20), "kills-3");
  });

  it("5 peers: every acknowledged command applied exactly once, equal digests", async () => {
    await leaderKills(5, envInt("TESSERA_CONSENSUS_KILLS_5", 6), "kills-5");
  });
});
