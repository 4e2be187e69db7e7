/**
 * A peer whose data dir is wiped comes back with the same id and address and catches up through
 * InstallSnapshot (the leader has compacted the entries it would need), ending at the same
 * applied index and digest as the others.
 */
import { execFileSync } from "node:child_process";
import { sleep } from "@tessera/harness";
import { afterEach, describe, expect, it } from "vitest";
import { checkExactlyOnce, waitConverged } from "./checks.js";
import { ClusterError } from "./errors.js";
import { CONSENSUS_MAIN, type PeerProcess } from "./peer-process.js";
import { type Rig, startRig } from "./scenario.test-helpers.js";
import { waitForProgress } from "./workload.js";

/** Snapshot often, so that the leader compacts its log well within the test. */
const SNAPSHOT_ENTRIES = 200;
/**
 * Entries a peer keeps behind its snapshot: 2,000 by default, or what `--snapshot-keep` sets
 * where the service has that flag (asked from `--help`, so this test works either way).
 */
const KEEP_FLAG = execFileSync(process.execPath, [CONSENSUS_MAIN, "--help"], {
  encoding: "utf8",
}).includes("--snapshot-keep");
const SNAPSHOT_KEEP = KEEP_FLAG ? 50 : 2_000;
/**
 * The leader must have compacted past index 1 before the wiped peer returns: write until its
 * snapshot is beyond the kept tail.
 */
const LEADER_SNAPSHOT_AT_LEAST = SNAPSHOT_KEEP + SNAPSHOT_ENTRIES;

/** Index of the newest snapshot the peer logged ("snapshot taken"), 0 if none. */
async function lastSnapshotIndex(peer: PeerProcess): Promise<number> {
  let last = 0;
  for (const line of (await peer.logTail(Number.MAX_SAFE_INTEGER)).split("\n")) {
    if (!line.includes('"snapshot taken"')) continue;
    const m = /"index":(\d+)/.exec(line);
    if (m) last = Math.max(last, Number(m[1]));
  }
  return last;
}

let rig: Rig | undefined;

// A failed test keeps its cluster's logs (the path is printed); a passing one removes them.
afterEach(async (ctx) => {
  const kept = await rig?.close(ctx.task.result?.state === "fail");
  if (kept) console.error(`consensus logs kept in ${kept}`);
  rig = undefined;
});

describe("wiped peer (real processes)", () => {
  it("rejoins through a snapshot and matches the others' applied index and digest", async () => {
    rig = await startRig({
      size: 3,
      name: "wipe",
      nats: false,
      jetstream: false,
      extraArgs: [
        "--snapshot-entries",
        String(SNAPSHOT_ENTRIES),
        ...(KEEP_FLAG ? ["--snapshot-keep", String(SNAPSHOT_KEEP)] : []),
      ],
    });
    const { cluster, ledger } = rig;
    const leader = await cluster.waitForLeader();
    const victim = cluster.peers.find((p) => p.id !== leader.peer.id)!;
    await cluster.kill(victim.id);

    for (let i = 0; i < 12; i++) rig.addWriter("grpc", 0);
    // Progress while the victim is down, until every other peer has snapshotted (and so compacted
    // its log) far enough. Read from the peers' logs: asking the API would cost them a digest.
    const others = cluster.peers.filter((p) => p !== victim);
    const deadline = Date.now() + 180_000;
    for (;;) {
      const indexes = await Promise.all(others.map((p) => lastSnapshotIndex(p)));
      if (indexes.every((i) => i >= LEADER_SNAPSHOT_AT_LEAST)) break;
      if (Date.now() > deadline) {
        throw new ClusterError(
          "timeout",
          `snapshot indexes ${indexes.join("/")} stayed below ${LEADER_SNAPSHOT_AT_LEAST}; acked ${ledger.acked.size}`,
        );
      }
      await sleep(500);
    }

    // Quiet while the victim is wiped and restarted: the leader packs concurrent commands into
    // one entry, so unthrottled writers would otherwise fill the manifest's job limit (10,000)
    // long before the restart is done, and every later submit would be refused.
    await rig.drainWriters();
    const logBefore = (await victim.logTail(Number.MAX_SAFE_INTEGER)).length;
    await victim.wipe();
    await cluster.restart(victim.id);
    for (let i = 0; i < 12; i++) rig.addWriter("grpc", 0);
    await waitForProgress(ledger, ["grpc"], 50, 60_000, "after the wiped peer returned");
    await rig.drainWriters();
    const views = await waitConverged(cluster);
    const report = await checkExactlyOnce(cluster, ledger);

    const rejoined = views.find((v) => v.id === victim.id)!;
    const other = views.find((v) => v.id !== victim.id)!;
    expect(rejoined.appliedIndex).toBe(other.appliedIndex);
    expect(rejoined.digest).toBe(other.digest);
    expect(rejoined.snapshotIndex).toBeGreaterThan(0);
    // The peer's own log says where its state came from: a snapshot sent by the leader.
    const since = (await victim.logTail(Number.MAX_SAFE_INTEGER)).slice(logBefore);
    const restored = since
      .split("\n")
      .filter((l) => l.includes("restored from snapshot") && l.includes('"source":"leader"'));
    expect(restored.length, `no snapshot install in ${victim.logPath}`).toBeGreaterThan(0);
    console.info(
      `wipe: peer ${victim.id} rejoined via snapshot (${restored.length} install(s)); applied ${rejoined.appliedIndex}, ` +
        `${report.appliedPerPeer} jobs per peer, digest ${rejoined.digest?.slice(0, 16)}`,
    );
  });
});
