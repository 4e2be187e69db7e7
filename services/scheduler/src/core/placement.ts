// Placement: which node (and so which pool subject) gets the next attempt.
//
// Agents of one pool share one durable consumer (tessera.work.<pool>.>), so the node chosen
// here is binding for the POOL (the subject the item goes to) and for admission (never more
// attempts in flight than the eligible nodes have slots), and advisory for the node itself
// (recorded as attempt-start nodeId; whichever agent of the pool pulls the item runs it).
// Label pools by place (e.g. gpu-aws-us-east-1) and locality becomes binding too.
//
// Eligibility (every policy): node active (not failed), not drained, in an allowed pool, with
// a free slot (slots + prefetch), and not in its failure cooldown — unless every node with a free slot is cooling
// down, in which case cooling nodes are used rather than leaving work unplaced.
// Policies (deterministic; ties broken by nodeId):
//   least-loaded       fewest attempts in flight
//   capacity-weighted  lowest (in flight + 1) / slots: big nodes take proportionally more
//   locality           same region as the inputs > same cloud > elsewhere, then capacity-weighted

/** Why nothing was placed when every eligible node is full (slots and queue). */
export const SLOTS_BUSY = "every eligible node's slots are busy";
export type PlacementPolicyName = "least-loaded" | "capacity-weighted" | "locality";
export const PLACEMENT_POLICIES: readonly PlacementPolicyName[] = [
  "least-loaded",
  "capacity-weighted",
  "locality",
];

export interface NodeCandidate {
  readonly nodeId: string;
  readonly pool: string;
  readonly cloud: string;
  readonly region: string;
  readonly zone: string;
  readonly slots: number;
  /** Attempts currently placed on / running on this node. */
  readonly inFlight: number;
  readonly failed: boolean;
  readonly drained: boolean;
  readonly lastFailureAt: number | undefined;
}

/** Where a task's inputs live (undefined: unknown, locality has nothing to prefer). */
export interface InputLocation {
  readonly cloud: string;
  readonly region: string;
}

export interface PlacementOptions {
  readonly policy: PlacementPolicyName;
  /** Pools this scheduler places into (empty: any). */
  readonly pools: readonly string[];
  /** How long a node that just failed is avoided (ms). */
  readonly cooldownMs: number;
  /**
   * Attempts a node may hold beyond its slots (default 0), or a function of its slots
   * (core/prefetch.ts): queued in the work stream so an agent finishing one item finds the next
   * without waiting for a control-plane round trip.
   */
  readonly prefetch?: number | ((slots: number) => number);
}

export type PlacementResult =
  | { readonly ok: true; readonly nodeId: string; readonly pool: string; readonly cooling: boolean }
  | { readonly ok: false; readonly reason: string };

function inCooldown(n: NodeCandidate, now: number, cooldownMs: number): boolean {
  return n.lastFailureAt !== undefined && now - n.lastFailureAt < cooldownMs;
}

/** Nodes that could take an attempt now, and whether they are only cooling-down ones. */
export function eligibleNodes(
  nodes: readonly NodeCandidate[],
  now: number,
  options: PlacementOptions,
  avoid: ReadonlySet<string> = new Set(),
): { nodes: NodeCandidate[]; cooling: boolean; reason: string } {
  const usable = nodes.filter(
    (n) =>
      !n.failed &&
      !n.drained &&
      n.slots > 0 &&
      (options.pools.length === 0 || options.pools.includes(n.pool)),
  );
  if (usable.length === 0) {
    return {
      nodes: [],
      cooling: false,
      reason:
        nodes.length === 0
          ? "no nodes known (no agent has joined)"
          : `no active, undrained node${options.pools.length ? ` in pool(s) ${options.pools.join(",")}` : ""}`,
    };
  }
  const prefetch = options.prefetch ?? 0;
  const queued = typeof prefetch === "number" ? () => prefetch : prefetch;
  const free = usable.filter((n) => n.inFlight < n.slots + queued(n.slots) && !avoid.has(n.nodeId));
  if (free.length === 0) return { nodes: [], cooling: false, reason: SLOTS_BUSY };
  const warm = free.filter((n) => !inCooldown(n, now, options.cooldownMs));
  if (warm.length > 0) return { nodes: warm, cooling: false, reason: "" };
  return { nodes: free, cooling: true, reason: "" };
}

function localityScore(n: NodeCandidate, at: InputLocation | undefined): number {
  if (!at) return 0;
  if (n.cloud === at.cloud && n.region === at.region) return 2;
  if (n.cloud === at.cloud) return 1;
  return 0;
}

/** Lower is better; compared lexicographically. */
function score(
  n: NodeCandidate,
  policy: PlacementPolicyName,
  inputs: InputLocation | undefined,
): number[] {
  const weighted = (n.inFlight + 1) / n.slots;
  switch (policy) {
    case "least-loaded":
      return [n.inFlight, weighted];
    case "capacity-weighted":
      return [weighted, n.inFlight];
    case "locality":
      return [-localityScore(n, inputs), weighted, n.inFlight];
  }
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Picks a node for one attempt. `avoid` excludes nodes (e.g. the node already running the
 * original when placing a speculative duplicate).
 */
export function placeTask(
  nodes: readonly NodeCandidate[],
  now: number,
  options: PlacementOptions,
  inputs?: InputLocation,
  avoid?: ReadonlySet<string>,
): PlacementResult {
  const { nodes: eligible, cooling, reason } = eligibleNodes(nodes, now, options, avoid);
  if (eligible.length === 0) return { ok: false, reason };
  let best: NodeCandidate | undefined;
  let bestScore: number[] = [];
  for (const n of eligible) {
    const s = score(n, options.policy, inputs);
    const c = best === undefined ? -1 : compare(s, bestScore);
    if (best === undefined || c < 0 || (c === 0 && n.nodeId < best.nodeId)) {
      best = n;
      bestScore = s;
    }
  }
  const chosen = best as NodeCandidate;
  return { ok: true, nodeId: chosen.nodeId, pool: chosen.pool, cooling };
}

/**
 * Where a task's inputs live. A reduce reads the partials: the place (cloud/region) most of its
 * completed maps ran in. A map reads input tiles from the configured data location.
 */
export function majorityLocation(
  places: readonly (InputLocation | undefined)[],
): InputLocation | undefined {
  const counts = new Map<string, { loc: InputLocation; n: number }>();
  for (const p of places) {
    if (!p) continue;
    const key = `${p.cloud}\u0000${p.region}`;
    const e = counts.get(key);
    if (e) e.n++;
    else counts.set(key, { loc: p, n: 1 });
  }
  let best: { key: string; loc: InputLocation; n: number } | undefined;
  for (const [key, e] of counts) {
    if (!best || e.n > best.n || (e.n === best.n && key < best.key)) best = { key, ...e };
  }
  return best?.loc;
}
