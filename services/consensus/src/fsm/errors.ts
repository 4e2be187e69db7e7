import type { ManifestReplyCode } from "@tessera/protocol";

/**
 * Errors of the manifest FSM. Apply never throws them out: a rejected command becomes an
 * `{ok: false, code, reason}` reply. Only `restore()` (corrupt snapshot) and construction with
 * bad options throw to the host.
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
