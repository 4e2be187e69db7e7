import { Inflights } from "./inflights.js";
import type { ProgressStateName } from "./ready.js";
import type { Snapshot } from "./types.js";

/**
 * The leader's view of one follower (etcd's tracker.Progress).
 *
 * - Probe: we do not know where the follower's log matches ours; send one append at a time
 *   and wait for the answer (or a heartbeat response) before sending the next.
 * - Replicate: the follower is in sync; stream appends optimistically (pipelining), bounded by
 *   the inflight window.
 * - Snapshot: the follower needs entries we compacted; an InstallSnapshot transfer is in
 *   progress and appends are paused until it acknowledges the snapshot.
 */
export enum ProgressState {
  Probe = 0,
  Replicate = 1,
  Snapshot = 2,
}

/** Sender-side state of a chunked snapshot transfer to one follower. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot;
  /** Next byte offset to send. */
  nextOffset: number;
  /** Bytes the follower has acknowledged receiving in order. */
  ackedOffset: number;
  /** The chunk with done=true has been sent (since the last rewind). */
  sentDone: boolean;
  /** Ticks since the follower last acknowledged a chunk; a stall rewinds to ackedOffset. */
  idleTicks: number;
}

export class Progress {
  match = 0;
  next: number;
  state = ProgressState.Probe;
  /** Index of the snapshot being sent while in Snapshot state (0 otherwise). */
  pendingSnapshot = 0;
  snapshotTransfer: SnapshotTransfer | undefined;
  /** Heard from during the current check-quorum period. */
  recentActive = false;
  /** Probe: one append is outstanding. Replicate: the inflight window is full. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.snapshotTransfer = undefined;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot; probe right after it.
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshot.metadata.index;
    this.snapshotTransfer = {
      snapshot,
      nextOffset: 0,
      ackedOffset: 0,
      sentDone: false,
      idleTicks: 0,
    };
  }

  /** Bookkeeping after sending an append carrying `count` entries ending at `lastIndex`. */
  sentEntries(count: number, lastIndex: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else if (this.state === ProgressState.Probe) {
      if (count > 0) this.msgAppFlowPaused = true;
    }
  }

  /** The follower acknowledged index n. Returns false when the ack is stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; matchHint is where the logs may match (from
   * the follower's hint, refined by findConflictByTerm). Returns false when the rejection is
   * stale (answers an append we are no longer waiting for).
   */
  /** The follower lost its log beyond `have` (wiped storage): probe again from there. */
  forgetMatch(have: number): void {
    this.match = Math.max(0, have);
    this.resetState(ProgressState.Probe);
    this.next = this.match + 1;
  }

  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }

  stateName(): ProgressStateName {
    return this.state === ProgressState.Probe
      ? "probe"
      : this.state === ProgressState.Replicate
        ? "replicate"
        : "snapshot";
  }
}
