/**
 * A lean randomized smoke test of the safety properties (the full fault-injecting simulator with
 * linearizability checking lives in libs/raft-sim). Seeded: a failing seed replays exactly.
 * Faults: message loss, duplication and reordering, isolated nodes, crash-restarts, log
 * compaction that forces snapshot installs, and (second test) membership changes.
 */
import { describe, expect, it } from "vitest";
import { ConfChangeType } from "./conf-change.js";
import { ProposalDroppedError } from "./errors.js";
import { StateType } from "./ready.js";
import { dec, enc, seededRandom, TestNetwork } from "./test-network.test-helpers.js";

const IDS = [1, 2, 3, 4, 5];

/** The state machine's full history: the snapshot image followed by entries applied since. */
function history(net: TestNetwork, id: number): string[] {
  const n = net.node(id);
  const base = n.restoredFrom ? (JSON.parse(dec(n.restoredFrom.data)) as string[]) : [];
  return base.concat(n.applied.map((e) => dec(e.data)));
}

/** Proposes a membership change that is valid now: add a learner, promote it, or remove a voter. */
function changeMembership(
  net: TestNetwork,
  target: number,
  removed: Set<number>,
  rnd: () => number,
): void {
  const lead = net.leaders()[0];
  if (lead === undefined) return;
  const cs = net.node(lead).confState;
  const raw = net.raw(lead);
  if (cs.learners.includes(target)) {
    raw.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: target });
  } else if (!cs.voters.includes(target)) {
    // Removed ids are never reused (as in etcd): a returning node would bring a stale log.
    if (!removed.has(target))
      raw.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: target });
  } else if (cs.voters.length > 3 && rnd() < 0.5) {
    removed.add(target);
    raw.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: target });
  }
}

function run(seed: number, membership: boolean): void {
  const rnd = seededRandom(seed);
  const pick = () => IDS[Math.floor(rnd() * IDS.length)]!;
  const cfg = { snapshotChunkSize: 64, maxInflightMsgs: 4, maxSizePerMsg: 256 };
  const net = membership ? new TestNetwork([1, 2, 3], cfg, "log") : new TestNetwork(IDS, cfg);
  if (membership) {
    net.addNode(4);
    net.addNode(5);
  }
  const faults = () => ({ random: rnd, drop: 0.15, duplicate: 0.05, reorder: true });
  net.chaos = faults();
  const leaderOfTerm = new Map<number, number>();
  const removed = new Set<number>();
  let proposed = 0;
  for (let step = 0; step < 300; step++) {
    const r = rnd();
    try {
      if (r < 0.3) {
        net.raw(pick()).propose(enc(`s${seed}-${proposed++}`));
      } else if (r < 0.33) {
        net.heal();
        net.chaos = faults();
        if (rnd() < 0.6) net.isolate(pick());
      } else if (r < 0.35) {
        net.restart(pick());
      } else if (r < 0.37) {
        // A node compacts its log at its applied index with an image of its state machine.
        const n = net.node(pick());
        if (n.appliedIndex > n.storage.snapshot().metadata.index + 2) {
          n.storage.createSnapshot(
            n.appliedIndex,
            n.confState,
            enc(JSON.stringify(history(net, n.id))),
          );
          n.storage.compact(n.appliedIndex);
        }
      } else if (r < 0.4 && membership) {
        changeMembership(net, pick(), removed, rnd);
      }
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
    net.tickAll(1);
    // Election safety: at most one leader per term, ever.
    for (const id of IDS) {
      const st = net.raw(id).status();
      if (st.state !== StateType.Leader) continue;
      const prev = leaderOfTerm.get(st.term);
      if (prev !== undefined && prev !== id)
        throw new Error(`seed ${seed}: two leaders in term ${st.term}`);
      leaderOfTerm.set(st.term, id);
    }
    // State machine safety: every history is a prefix of the longest one.
    const hs = IDS.map((id) => history(net, id));
    const longest = hs.reduce((a, b) => (b.length > a.length ? b : a));
    for (const [i, h] of hs.entries()) {
      for (let k = 0; k < h.length; k++) {
        if (h[k] !== longest[k]) {
          throw new Error(
            `seed ${seed} step ${step}: node ${IDS[i]} applied ${h[k]} at ${k}, another ${longest[k]}`,
          );
        }
      }
    }
  }
  // Liveness once the faults stop: one leader emerges and a new command reaches every member.
  net.heal();
  net.chaos = undefined;
  net.tickAll(80);
  const leaders = net.leaders();
  expect(leaders, `seed ${seed}`).toHaveLength(1);
  net.raw(leaders[0]!).propose(enc("final"));
  net.tickAll(10);
  const cs = net.node(leaders[0]!).confState;
  for (const id of [...cs.voters, ...cs.learners])
    expect(history(net, id).at(-1), `seed ${seed}`).toBe("final");
}

describe("randomized safety smoke test", () => {
  it("election safety, state machine safety and eventual progress hold under loss, duplication, reordering, partitions, restarts and compaction (30 seeds)", () => {
    for (let seed = 1; seed <= 30; seed++) run(seed, false);
  });

  it("the same holds while members are added as learners, promoted and removed (30 seeds)", () => {
    for (let seed = 1; seed <= 30; seed++) run(seed, true);
  });
});
