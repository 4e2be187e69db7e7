/**
 * The seam between the Raft host (peer/) and the replicated state machine (fsm/).
 *
 * The host owns ordering and durability; the state machine owns meaning. Apply must be
 * deterministic: the same entries in the same order give byte-identical snapshots and digests on
 * every peer, so it never reads a clock, a random source or the environment. Time enters only
 * through `entry.stampedAt`, which the leader wrote into the log.
 */

/** One committed application entry, as the host hands it to the state machine. */
export interface CommittedCommand {
  /** Raft log index (unique, increasing). */
  readonly index: number;
  readonly term: number;
  /** Leader wall-clock time (ms since epoch) stamped into the entry when it was proposed. */
  readonly stampedAt: number;
  /** The command bytes exactly as proposed (the FSM decodes and validates them). */
  readonly data: Uint8Array;
}

/**
 * One committed entry that packs several commands (the leader batched them: see
 * peer/entry-frame.ts). They are applied in order, as if each were its own entry, except that
 * they share the entry's index, term and stamp, and their events form the index's one batch.
 */
export interface CommittedBatch {
  readonly index: number;
  readonly term: number;
  readonly stampedAt: number;
  readonly commands: readonly Uint8Array[];
}

/** What applying one entry produced. */
export interface ApplyOutcome {
  /**
   * The reply for the proposer (already encoded). Rejections are replies too (`ok: false` with a
   * reason), never exceptions: a bad command must not stop the log.
   */
  readonly reply: Uint8Array;
  /**
   * Events to publish on TESSERA_EVENTS for this index (may be empty). The host publishes them as
   * one message with Nats-Msg-Id = String(index).
   */
  readonly events: readonly ManifestEventOut[];
}

export interface ManifestEventOut {
  /** Subject suffix below `tessera.evt.` (e.g. "job", "task", "node", "control"). */
  readonly category: string;
  /** JSON-serialisable event body (validated by its schema in libs/protocol). */
  readonly body: unknown;
}

/** What applying a batch entry produced: one reply per command, in order; the index's events. */
export interface BatchApplyOutcome {
  readonly replies: readonly Uint8Array[];
  readonly events: readonly ManifestEventOut[];
}

export interface StateMachine {
  /**
   * Applies one committed entry. Never throws for bad input (see ApplyOutcome.reply); it throws
   * only when this peer cannot follow the log at all (the manifest's FeatureLevelError: a level
   * above its own), and the host then stops the peer.
   */
  apply(cmd: CommittedCommand): ApplyOutcome;
  /** Applies a batch entry's commands in order (same rules as apply, per command). */
  applyBatch(entry: CommittedBatch): BatchApplyOutcome;
  /** Serialises the whole state as of the last applied index (compact: see fsm/README). */
  snapshot(): Uint8Array;
  /** Replaces the whole state from snapshot bytes (after InstallSnapshot or on restart). */
  restore(data: Uint8Array): void;
  /** Hex SHA-256 of the canonical state; equal on every peer at the same applied index. */
  digest(): string;
  /** Index of the last entry applied (or restored from a snapshot). */
  readonly appliedIndex: number;
}
