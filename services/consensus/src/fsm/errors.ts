import type { ManifestReplyCode } from "@tessera/protocol";

/**
 * Errors of the manifest FSM. Apply never throws them out: a rejected command becomes an
 * `{ok: false, code, reason}` reply. Only `restore()` (corrupt snapshot), construction with
 * bad options and a feature level above this peer's (FeatureLevelError) throw to the host.
 */

/** A command the manifest refuses; converted to a reply inside apply(). */
export class ManifestRejection extends Error {
  constructor(
    readonly code: ManifestReplyCode,
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
    this.name = "ManifestRejection";
  }
}

/** Snapshot bytes that cannot be restored (wrong magic/version, CRC mismatch, truncated). */
export class FsmSnapshotError extends Error {
  readonly code = "TESSERA_E_FSM_SNAPSHOT";
  constructor(
    readonly reason: string,
    /** Byte offset into the snapshot where decoding stopped, when known. */
    readonly offset?: number,
  ) {
    super(`manifest snapshot: ${reason}${offset === undefined ? "" : ` (at byte ${offset})`}`);
    this.name = "FsmSnapshotError";
  }
}

/** Invalid FSM or failure-detector options (a configuration bug, raised at construction). */
export class FsmOptionsError extends Error {
  readonly code = "TESSERA_E_FSM_OPTIONS";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`manifest options: ${field}: ${reason}`);
    this.name = "FsmOptionsError";
  }
}

/**
 * The cluster committed a feature level this peer cannot apply (an older binary, or a lower
 * --feature-level, that joined or came back after the raise). Applying on would mean guessing at
 * commands it does not know, so the peer must stop: upgrade it, then restart it.
 */
export class FeatureLevelError extends Error {
  readonly code = "TESSERA_E_FEATURE_LEVEL";
  constructor(
    readonly supported: number,
    readonly required: number,
    /** The log index (or snapshot index) that carries the level. */
    readonly index: number,
  ) {
    super(
      `the cluster runs at feature level ${required} (index ${index}) but this peer supports at most ${supported}: upgrade it (or raise its --feature-level) and restart it`,
    );
    this.name = "FeatureLevelError";
  }
}
