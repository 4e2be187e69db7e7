import type { NodeId } from "./types.js";

/**
 * Quorum math (etcd-io/raft's quorum package): which index is committed and who won a vote,
 * for a majority configuration and for a joint (old ∪ new) configuration.
 */

export enum VoteResult {
  /** Not decided yet: enough voters have not answered. */
  Pending = 0,
  Lost = 1,
  Won = 2,
}

/** A set of voters where any strict majority is a quorum. */
export class MajorityConfig {
  readonly ids: readonly NodeId[];
  /** Reused by committedIndex so the hot path allocates nothing. */
  private readonly scratch: number[];

  constructor(ids: Iterable<NodeId>) {
    this.ids = [...new Set(ids)].sort((a, b) => a - b);
    this.scratch = new Array<number>(this.ids.length).fill(0);
  }

  get size(): number {
    return this.ids.length;
  }

  has(id: NodeId): boolean {
    return this.ids.includes(id);
  }

  /**
   * The largest index acknowledged by a majority: the ⌊n/2⌋+1-th largest match. An empty
   * configuration returns +Infinity so that it never constrains a joint configuration.
   */
  committedIndex(matchOf: (id: NodeId) => number): number {
    const n = this.ids.length;
    if (n === 0) return Number.POSITIVE_INFINITY;
    const s = this.scratch;
    for (let i = 0; i < n; i++) s[i] = matchOf(this.ids[i]!);
    // Insertion sort: n is tiny (3–7) and this avoids the allocation of Array.prototype.sort.
    for (let i = 1; i < n; i++) {
      const v = s[i]!;
      let j = i - 1;
      while (j >= 0 && s[j]! > v) {
        s[j + 1] = s[j]!;
        j--;
      }
      s[j + 1] = v;
    }
    // Ascending order: index n - (n/2 + 1) holds the smallest value a majority has reached.
    return s[n - (Math.floor(n / 2) + 1)]!;
  }

  /** Outcome of an election given the votes received so far (true = granted). */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const n = this.ids.length;
    if (n === 0) return VoteResult.Won;
    let yes = 0;
    let missing = 0;
    for (const id of this.ids) {
      const v = votes.get(id);
      if (v === undefined) missing++;
      else if (v) yes++;
    }
    const q = Math.floor(n / 2) + 1;
    if (yes >= q) return VoteResult.Won;
    if (yes + missing >= q) return VoteResult.Pending;
    return VoteResult.Lost;
  }
}

/**
 * Two majority configurations that must both agree (dissertation §4.3). With single-server
 * changes the outgoing half is empty and this degenerates to a plain majority.
 */
export class JointConfig {
  constructor(
    readonly incoming: MajorityConfig,
    readonly outgoing: MajorityConfig = new MajorityConfig([]),
  ) {}

  /** All voters of both halves, deduplicated. */
  ids(): NodeId[] {
    const s = new Set<NodeId>(this.incoming.ids);
    for (const id of this.outgoing.ids) s.add(id);
    return [...s];
  }

  has(id: NodeId): boolean {
    return this.incoming.has(id) || this.outgoing.has(id);
  }

  committedIndex(matchOf: (id: NodeId) => number): number {
    const a = this.incoming.committedIndex(matchOf);
    const b = this.outgoing.committedIndex(matchOf);
    return Math.min(a, b);
  }

  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const a = this.incoming.voteResult(votes);
    const b = this.outgoing.voteResult(votes);
    if (a === b) return a;
    if (a === VoteResult.Lost || b === VoteResult.Lost) return VoteResult.Lost;
    return VoteResult.Pending;
  }
}
