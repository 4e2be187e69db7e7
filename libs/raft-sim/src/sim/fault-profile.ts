import type { Rng } from "../rng.js";
import type { ClientSettings } from "./client.js";
import type { LinkFaults } from "./network.js";
import type { NodeSettings } from "./sim-node.js";

/**
 * How hostile one seed's world is. Drawn from the seed, so the sweep covers calm and brutal runs,
 * different protocol options (pre-vote, check-quorum), tiny and large messages and snapshot chunks.
 */
export interface FaultProfile {
  readonly link: LinkFaults;
  /** Chance per step that a live node crashes (half of them mid-Ready at a random crash point). */
  readonly crashRate: number;
  /** Chance per step that a partition starts (when none is active). */
  readonly partitionRate: number;
  /** Chance per step that the leader is asked to transfer leadership. */
  readonly transferRate: number;
  /** Chance per step of a membership step (add learner / promote / remove) when enabled. */
  readonly membershipRate: number;
  readonly node: Partial<NodeSettings>;
  readonly client: Partial<ClientSettings>;
}

export function drawProfile(rng: Rng): FaultProfile {
  const maxDelay = rng.range(1, 6);
  return {
    link: {
      dropRate: rng.pick([0, 0.02, 0.05, 0.1, 0.2, 0.3]),
      duplicateRate: rng.pick([0, 0.01, 0.05]),
      minDelay: 1,
      maxDelay,
    },
    crashRate: rng.pick([0, 0.003, 0.006, 0.012]),
    partitionRate: rng.pick([0, 0.004, 0.01]),
    transferRate: rng.pick([0, 0.002, 0.006]),
    membershipRate: rng.chance(0.35) ? rng.pick([0.005, 0.015]) : 0,
    node: {
      preVote: rng.chance(0.75),
      checkQuorum: rng.chance(0.75),
      snapshotEvery: rng.pick([8, 16, 32, 64]),
      keepEntries: rng.pick([0, 2, 5]),
      snapshotChunkSize: rng.pick([64, 256, 4096]),
      maxSizePerMsg: rng.pick([256, 4096, 1 << 20]),
      maxInflightMsgs: rng.pick([1, 4, 64]),
      maxUncommittedEntriesSize: rng.pick([0, 0, 512]),
      maxCommittedSizePerReady: rng.pick([Number.MAX_SAFE_INTEGER, 128]),
      clockSkew: rng.pick([0, 0, 10, 4]),
    },
    client: {
      issueRate: rng.pick([0.1, 0.3, 0.6]),
      readIndexShare: rng.pick([0.5, 0.8, 1]),
    },
  };
}
