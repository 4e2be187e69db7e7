import { Progress } from "./progress.js";
import { JointConfig, MajorityConfig, VoteResult } from "./quorum.js";
import type { ConfState, NodeId } from "./types.js";

/**
 * The current configuration plus the leader's per-member Progress and the votes of an
 * election in progress (etcd's tracker.ProgressTracker).
 */
export class ProgressTracker {
  voters = new JointConfig(new MajorityConfig([]));
  learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();
  private readonly matchOf = (id: NodeId): number => this.progress.get(id)?.match ?? 0;

  constructor(readonly maxInflight: number) {}

  /**
   * Switches to the configuration `cs`. Members that stay keep their progress; new members
   * start probing at `nextIndex`; removed members are dropped.
   */
  applyConfState(cs: ConfState, nextIndex: number): void {
    this.voters = new JointConfig(
      new MajorityConfig(cs.voters),
      new MajorityConfig(cs.votersOutgoing),
    );
    this.learners = new Set(cs.learners);
    const members = new Set<NodeId>([...cs.voters, ...cs.votersOutgoing, ...cs.learners]);
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id)) this.progress.delete(id);
    }
    for (const id of members) {
      const isLearner = !this.voters.has(id);
      const pr = this.progress.get(id);
      if (pr) {
        pr.isLearner = isLearner;
      } else {
        const np = new Progress(Math.max(nextIndex, 1), this.maxInflight, isLearner);
        // A new member counts as active so that adding it cannot make check-quorum fail at once.
        np.recentActive = true;
        this.progress.set(id, np);
      }
    }
  }

  confState(): ConfState {
    return {
      voters: [...this.voters.incoming.ids],
      learners: [...this.learners].sort((a, b) => a - b),
      votersOutgoing: [...this.voters.outgoing.ids],
    };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.has(id);
  }

  /** A single voter (this node) decides alone: no network round trips are needed. */
  isSingleton(): boolean {
    return this.voters.incoming.size === 1 && this.voters.outgoing.size === 0;
  }

  /** The highest index replicated on a quorum of voters. */
  committed(): number {
    return this.voters.committedIndex(this.matchOf);
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, v] of this.votes) {
      if (!this.voters.has(id)) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.voters.voteResult(this.votes) };
  }

  /** Whether a quorum of voters was recently active (self counts as active). */
  quorumActive(self: NodeId): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      active.set(id, id === self || pr.recentActive);
    }
    return this.voters.voteResult(active) === VoteResult.Won;
  }
}
