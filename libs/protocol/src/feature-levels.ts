// Feature levels of the replicated manifest: which commands every peer must understand before
// the leader may commit them.
//
// Every peer applies every committed entry. A peer that does not know a command (an older
// binary in the middle of a rolling upgrade) would refuse what the others applied, and the
// replicas would silently differ. So the manifest carries a *cluster feature level*, raised only
// by a committed `cluster-level` command that the leader proposes once every member has said it
// supports the level (gRPC Info `feature_level`); a command that needs more than the cluster's
// level is refused the same way on every peer. A peer that is asked to apply a level above its
// own stops instead of guessing (services/consensus: FeatureLevelError).
import type { ManifestCommand } from "./schemas/command.js";

/**
 * What each level adds. Peers that predate levels advertise none and count as level 1.
 * - 1: every command up to the twenty-ninth session's manifest (snapshot v6).
 * - 2: `cluster-level` itself, node-drain `reason`, snapshots that carry the level (v7).
 */
export const MANIFEST_FEATURE_LEVEL = 2;

/** The level of a peer that advertises none, and of a manifest that was never raised. */
export const BASE_FEATURE_LEVEL = 1;

export interface RequiredLevel {
  readonly level: number;
  /** What needs it, for the refusal: e.g. "node-drain's reason". */
  readonly feature: string;
}

/**
 * The level `cmd` needs. `cluster-level` needs none: it is how a cluster moves up (the leader's
 * check that every member supports the target stands in for it).
 */
export function requiredFeatureLevel(cmd: ManifestCommand): RequiredLevel {
  if (cmd.type === "node-drain" && cmd.reason !== undefined) {
    return { level: 2, feature: "node-drain's reason" };
  }
  return { level: BASE_FEATURE_LEVEL, feature: cmd.type };
}
