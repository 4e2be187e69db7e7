import type { Entry, HardState, SnapshotMetadata } from "@tessera/raft";
import { hashBytes } from "./hash.js";

export type InvariantName =
  | "election-safety"
  | "log-matching"
  | "leader-completeness"
  | "state-machine-safety"
  | "commit-monotonic"
  | "apply-order"
  | "linearizability"
  | "convergence"
  | "core-error";

/** A safety property failed; the simulator turns it into a failure record with seed and step. */
export class InvariantViolation extends Error {
  constructor(
    readonly invariant: InvariantName,
    message: string,
  ) {
    super(`${invariant}: ${message}`);
    this.name = "InvariantViolation";
  }
}

/** What the checker needs to read from a node's durable log. */
export interface LogView {
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
}

const TERM_SPACE = 1_000_000;

/**
 * The four Raft safety properties (paper Figure 3), checked incrementally from the hosts' hooks
 * so the cost is proportional to what changed, never to the length of the logs:
 *
 * - Election safety: one leader per term, over the whole run (a term→leader map).
 * - Log matching: an (index, term) pair identifies one entry forever, so every persisted entry
 *   is compared with the first one ever seen at that (index, term) — same data, same preceding
 *   term. By induction on the index this is exactly "same index and term ⇒ identical prefix".
 * - Leader completeness: when a node becomes leader of term T, its log holds every entry known to
 *   be committed by a leader of an earlier term.
 * - State machine safety: every apply at index i carries the same entry on every node, commit
 *   indices never go back, and nodes apply contiguously.
 */
export class InvariantChecker {
  private readonly leaders = new Map<number, number>();
  /** (index, term) → hash(data) * 2^20 + preceding term, packed in one number. */
  private readonly identity = new Map<number, number>();
  /** Per index: term of the committed entry (0 = not known yet). */
  private readonly committedTerm: number[] = [0];
  /**
   * Per index: the lowest term of any node that reported it committed. Every reporter's term is
   * >= the term of the leader that committed the entry, so a leader of a term above this must
   * hold it (a stale leader of an older term may legitimately lack it).
   */
  private readonly commitReportTerm: number[] = [0];
  private maxCommitted = 0;
  /** Per index: hash of the applied entry's data. */
  private readonly appliedHash: number[] = [0];
  /** Snapshot index → digest of the state machine image there. */
  private readonly stateDigest = new Map<number, number>();
  private readonly nodeCommit = new Map<number, number>();
  private readonly nodeApplied = new Map<number, number>();
  leaderElections = 0;

  /** After the host appended `entries` to node's storage. */
  onPersistEntries(node: number, entries: readonly Entry[], log: LogView): void {
    const first = log.firstIndex();
    const nodeCommit = this.nodeCommit.get(node) ?? 0;
    for (const e of entries) {
      if (e.index < first) continue;
      if (e.term >= TERM_SPACE)
        throw new InvariantViolation("log-matching", `term ${e.term} too large to track`);
      const prevTerm = log.term(e.index - 1);
      if (prevTerm > e.term) {
        throw new InvariantViolation(
          "log-matching",
          `node ${node}: entry ${e.index} has term ${e.term} below its predecessor's term ${prevTerm}`,
        );
      }
      const packed = hashBytes(e.data) * 1_048_576 + prevTerm;
      const key = e.index * TERM_SPACE + e.term;
      const seen = this.identity.get(key);
      if (seen === undefined) this.identity.set(key, packed);
      else if (seen !== packed) {
        const seenPrev = seen % 1_048_576;
        throw new InvariantViolation(
          "log-matching",
          `node ${node}: entry (index ${e.index}, term ${e.term}) differs from one seen before ` +
            (seenPrev !== prevTerm
              ? `(preceding term ${prevTerm} vs ${seenPrev})`
              : "(different data)"),
        );
      }
      // A node must never replace an entry it already knows to be committed. (A stale leader
      // may append at an index that is committed elsewhere; that entry is simply doomed.)
      if (e.index <= nodeCommit) {
        const ct = this.committedTerm[e.index];
        if (ct !== undefined && ct !== 0 && ct !== e.term) {
          throw new InvariantViolation(
            "state-machine-safety",
            `node ${node}: overwrote its committed entry ${e.index} (term ${ct}) with term ${e.term}`,
          );
        }
      }
    }
  }

  /** After the host persisted a hard state. */
  onHardState(node: number, hs: HardState, log: LogView): void {
    const prev = this.nodeCommit.get(node) ?? 0;
    if (hs.commit < prev) {
      throw new InvariantViolation(
        "commit-monotonic",
        `node ${node}: commit went from ${prev} to ${hs.commit}`,
      );
    }
    if (hs.commit === prev) return;
    this.nodeCommit.set(node, hs.commit);
    const first = log.firstIndex();
    for (let i = Math.max(prev + 1, first - 1); i <= hs.commit; i++) {
      if (i === 0) continue;
      this.recordCommitted(node, i, log.term(i), hs.term);
    }
  }

  /** A node restored a snapshot (received from the leader, or found in storage at restart). */
  onSnapshotRestore(node: number, meta: SnapshotMetadata, dataDigest: number, term: number): void {
    if (meta.index > 0) {
      this.recordCommitted(node, meta.index, meta.term, term);
      this.checkDigest(node, meta.index, dataDigest);
    }
    const c = this.nodeCommit.get(node) ?? 0;
    if (meta.index > c) this.nodeCommit.set(node, meta.index);
    this.nodeApplied.set(node, meta.index);
  }

  /** A node wrote a snapshot of its own state machine at `index`. */
  onSnapshotCreate(node: number, index: number, dataDigest: number): void {
    this.checkDigest(node, index, dataDigest);
  }

  private checkDigest(node: number, index: number, digest: number): void {
    const seen = this.stateDigest.get(index);
    if (seen === undefined) this.stateDigest.set(index, digest);
    else if (seen !== digest) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${node}: state machine image at index ${index} differs from another node's`,
      );
    }
  }

  private recordCommitted(node: number, index: number, term: number, reporterTerm: number): void {
    while (this.committedTerm.length <= index) {
      this.committedTerm.push(0);
      this.commitReportTerm.push(0);
    }
    const known = this.committedTerm[index] as number;
    if (known === 0) {
      this.committedTerm[index] = term;
      this.commitReportTerm[index] = reporterTerm;
      if (index > this.maxCommitted) this.maxCommitted = index;
    } else if (known !== term) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${node}: committed entry ${index} has term ${term}, another node committed term ${known}`,
      );
    } else if (reporterTerm < (this.commitReportTerm[index] as number)) {
      this.commitReportTerm[index] = reporterTerm;
    }
  }

  /** After a Ready showed `node` as leader of `term` and its entries were persisted. */
  onLeader(node: number, term: number, log: LogView): void {
    this.leaderElections++;
    const other = this.leaders.get(term);
    if (other !== undefined && other !== node) {
      throw new InvariantViolation(
        "election-safety",
        `nodes ${other} and ${node} were both leader in term ${term}`,
      );
    }
    this.leaders.set(term, node);
    const first = Math.max(1, log.firstIndex() - 1);
    const last = log.lastIndex();
    for (let i = first; i <= this.maxCommitted; i++) {
      const ct = this.committedTerm[i] as number;
      if (ct === 0 || (this.commitReportTerm[i] as number) >= term) continue;
      const have = i <= last ? log.term(i) : -1;
      if (have !== ct) {
        throw new InvariantViolation(
          "leader-completeness",
          `node ${node} became leader of term ${term} without committed entry ${i} (term ${ct}); ` +
            (have === -1 ? `its log ends at ${last}` : `it has term ${have} there`),
        );
      }
    }
  }

  /** Before a node applies a committed entry. */
  onApply(node: number, e: Entry): void {
    const applied = this.nodeApplied.get(node) ?? 0;
    if (e.index !== applied + 1) {
      throw new InvariantViolation(
        "apply-order",
        `node ${node} applied index ${e.index} after ${applied}`,
      );
    }
    this.nodeApplied.set(node, e.index);
    const commit = this.nodeCommit.get(node) ?? 0;
    if (e.index > commit) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${node} applied ${e.index} beyond its commit ${commit}`,
      );
    }
    const ct = this.committedTerm[e.index];
    if (ct !== undefined && ct !== 0 && ct !== e.term) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${node} applied entry ${e.index} of term ${e.term}, but term ${ct} was committed there`,
      );
    }
    while (this.appliedHash.length <= e.index) this.appliedHash.push(-1);
    const h = hashBytes(e.data);
    const seen = this.appliedHash[e.index] as number;
    if (seen === -1) this.appliedHash[e.index] = h;
    else if (seen !== h) {
      throw new InvariantViolation(
        "state-machine-safety",
        `node ${node} applied different data at index ${e.index} than another node`,
      );
    }
  }

  /** A node restarted: its volatile apply position resets to what its storage says. */
  onRestart(node: number, appliedFromSnapshot: number, persistedCommit: number): void {
    this.nodeApplied.set(node, appliedFromSnapshot);
    const c = this.nodeCommit.get(node) ?? 0;
    const durable = Math.max(persistedCommit, appliedFromSnapshot);
    if (durable < c) {
      // Commit is persisted before anything reflects it, so a restarted node knows at least as much.
      throw new InvariantViolation(
        "commit-monotonic",
        `node ${node} restarted with commit ${durable} < ${c}`,
      );
    }
  }

  committedIndex(): number {
    return this.maxCommitted;
  }
}
