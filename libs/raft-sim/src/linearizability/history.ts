/**
 * A client history: what each client asked, what it was told, and when (in logical time).
 *
 * Times are any totally ordered numbers; the simulator uses a global event counter so that no two
 * events share a time. Operation A happened-before B iff A.ret < B.call; everything else is
 * concurrent and may be linearized in either order.
 */
export interface Operation<I, O> {
  readonly clientId: number;
  readonly input: I;
  /**
   * What the client observed, or `undefined` when the outcome is unknown (the client timed out and
   * gave up): the operation may or may not have taken effect, at any time after `call`. The
   * checker then treats `ret` as +Infinity, which lets it linearize the operation last — the same
   * as "never happened" as far as any observation can tell.
   */
  readonly output: O | undefined;
  readonly call: number;
  readonly ret: number;
}

/**
 * A sequential specification: the single-copy object a linearizable system must be
 * indistinguishable from.
 */
export interface Model<S, I, O> {
  init(): S;
  /**
   * The state after applying `input` in `state`, if the object could have answered `output`;
   * `undefined` if it could not. `output === undefined` (unknown outcome) accepts any answer.
   */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** A canonical string for the state; equal states must give equal strings (memoization key). */
  stateKey(state: S): string;
  /** One line describing an operation, for failure explanations. */
  describe(input: I, output: O | undefined): string;
}

export type Verdict = "linearizable" | "not-linearizable" | "budget-exhausted";

/** Why one partition's sub-history could not be linearized. */
export interface LinearizabilityExplanation<I, O> {
  /** The partition (for the KV checker: the key). */
  readonly partition: string;
  /** The longest prefix the search could linearize, in linearization order. */
  readonly longestPrefix: readonly Operation<I, O>[];
  /** Model state (stateKey form) after that prefix. */
  readonly stateAfterPrefix: string;
  /**
   * The operation that returned before it could be placed: every order of the operations that
   * were concurrent with it was tried and none fits.
   */
  readonly blocking: Operation<I, O> | null;
  /** Operations that could have gone next after the prefix; none leads to a full linearization. */
  readonly candidates: readonly Operation<I, O>[];
  /** Human-readable summary of the above. */
  readonly message: string;
}

export interface PartitionResult<I, O> {
  readonly verdict: Verdict;
  /** Search steps spent (each tries one operation). */
  readonly steps: number;
  readonly explanation?: LinearizabilityExplanation<I, O>;
}
