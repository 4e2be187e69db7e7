import { InvalidHistoryError } from "../errors.js";
import { type CheckOptions, checkPartition } from "./checker.js";
import type { LinearizabilityExplanation, Operation, Verdict } from "./history.js";
import { type KvInput, type KvOutput, kvRegisterModel } from "./kv-model.js";

export type KvOperation = Operation<KvInput, KvOutput>;

export interface KvCheckResult {
  readonly verdict: Verdict;
  readonly operations: number;
  readonly keys: number;
  readonly steps: number;
  /** Present when the verdict is "not-linearizable": the first failing key's explanation. */
  readonly explanation?: LinearizabilityExplanation<KvInput, KvOutput>;
  /** Keys whose search ran out of budget (verdict "budget-exhausted"). */
  readonly exhaustedKeys: readonly string[];
}

/**
 * Checks a KV history for linearizability, P-compositionally: linearizability is a local property
 * (Herlihy & Wing), so the history is linearizable iff each key's sub-history is, and checking
 * keys separately turns one exponential search into many small ones.
 *
 * Reads with an unknown outcome are dropped first: they changed nothing and nobody saw them.
 */
export function checkKvHistory(
  history: readonly KvOperation[],
  options: CheckOptions = {},
): KvCheckResult {
  const byKey = new Map<string, KvOperation[]>();
  history.forEach((op, i) => {
    if (
      op === null ||
      typeof op !== "object" ||
      op.input === null ||
      typeof op.input !== "object"
    ) {
      throw new InvalidHistoryError(i, "input", "must be an object");
    }
    if (typeof op.input.key !== "string")
      throw new InvalidHistoryError(i, "input.key", "must be a string");
    if (op.input.kind === "get" && op.output === undefined) return;
    let ops = byKey.get(op.input.key);
    if (ops === undefined) {
      ops = [];
      byKey.set(op.input.key, ops);
    }
    ops.push(op);
  });
  let steps = 0;
  const exhaustedKeys: string[] = [];
  const keys = [...byKey.keys()].sort();
  for (const key of keys) {
    const r = checkPartition(kvRegisterModel, byKey.get(key) ?? [], key, options);
    steps += r.steps;
    if (r.verdict === "not-linearizable") {
      return {
        verdict: "not-linearizable",
        operations: history.length,
        keys: keys.length,
        steps,
        explanation: r.explanation,
        exhaustedKeys,
      };
    }
    if (r.verdict === "budget-exhausted") exhaustedKeys.push(key);
  }
  return {
    verdict: exhaustedKeys.length > 0 ? "budget-exhausted" : "linearizable",
    operations: history.length,
    keys: keys.length,
    steps,
    exhaustedKeys,
  };
}
