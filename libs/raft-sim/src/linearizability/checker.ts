import { InvalidHistoryError } from "../errors.js";
import type { LinearizabilityExplanation, Model, Operation, PartitionResult } from "./history.js";

/**
 * Wing & Gong's linearizability search with Lowe's memoization, as in Porcupine.
 *
 * The history becomes a doubly linked list of call/return events in time order. The search walks
 * it: at a call event it tries to linearize that operation now (the model must accept its
 * output); if accepted it "lifts" the call and its return out of the list and restarts from the
 * head. Reaching a return event means that operation's deadline passed without it being
 * linearized, so the search backtracks. The cache of (set of linearized operations, model
 * state) pairs already explored prunes the exponential blow-up: two paths reaching the same set
 * with the same state have the same future.
 */

export interface CheckOptions {
  /** Upper bound on search steps before giving up with "budget-exhausted". */
  readonly maxSteps?: number;
}

const DEFAULT_MAX_STEPS = 20_000_000;

interface Event {
  readonly op: number;
  /** The return event of a call event; null for return events. */
  readonly match: Event | null;
  prev: Event | null;
  next: Event | null;
}

export function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  partition: string,
  options: CheckOptions = {},
): PartitionResult<I, O> {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  validate(ops);
  const n = ops.length;
  if (n === 0) return { verdict: "linearizable", steps: 0 };

  const head = buildEventList(ops);
  const zobrist = zobristKeys(n);
  const words = new Uint32Array((n + 31) >>> 5);
  let bitsHash = 0;
  const cache = new Map<number, { bits: Uint32Array; state: string }[]>();

  const stack: { entry: Event; state: S }[] = [];
  let state = model.init();
  let steps = 0;

  // Longest prefix seen, kept incrementally: `shared` is how much of bestPrefix still equals the
  // bottom of the stack, so each new maximum copies only the part that changed.
  const bestPrefix: number[] = [];
  let shared = 0;

  let entry: Event | null = head.next;
  while (head.next !== null) {
    if (++steps > maxSteps) return { verdict: "budget-exhausted", steps };
    if (entry === null) throw new Error("linearizability search walked off the event list");
    if (entry.match !== null) {
      const op = ops[entry.op] as Operation<I, O>;
      const next = model.step(state, op.input, op.output);
      if (next !== undefined) {
        const w = entry.op >>> 5;
        const bit = 1 << (entry.op & 31);
        words[w] = (words[w] as number) | bit;
        const h = bitsHash ^ (zobrist[entry.op] as number);
        const key = model.stateKey(next);
        if (cacheInsert(cache, (h ^ stringHash(key)) >>> 0, words, key)) {
          bitsHash = h;
          stack.push({ entry, state });
          state = next;
          lift(entry);
          if (stack.length > bestPrefix.length) {
            bestPrefix.length = shared;
            for (let i = shared; i < stack.length; i++) bestPrefix.push(stack[i]!.entry.op);
            shared = stack.length;
          }
          entry = head.next;
          continue;
        }
        words[w] = (words[w] as number) & ~bit;
      }
      entry = entry.next;
    } else {
      const top = stack.pop();
      if (top === undefined) {
        return {
          verdict: "not-linearizable",
          steps,
          explanation: explain(model, ops, partition, bestPrefix),
        };
      }
      if (stack.length < shared) shared = stack.length;
      const w = top.entry.op >>> 5;
      words[w] = (words[w] as number) & ~(1 << (top.entry.op & 31));
      bitsHash ^= zobrist[top.entry.op] as number;
      state = top.state;
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { verdict: "linearizable", steps };
}

function validate<I, O>(ops: readonly Operation<I, O>[]): void {
  ops.forEach((op, i) => {
    if (typeof op.call !== "number" || !Number.isFinite(op.call)) {
      throw new InvalidHistoryError(i, "call", `must be a finite number, got ${String(op.call)}`);
    }
    if (op.output !== undefined) {
      if (typeof op.ret !== "number" || !Number.isFinite(op.ret)) {
        throw new InvalidHistoryError(i, "ret", "must be finite when the output is known");
      }
      if (op.ret < op.call) {
        throw new InvalidHistoryError(i, "ret", `${op.ret} is before call ${op.call}`);
      }
    }
  });
}

/** Effective return time: unknown outcomes may take effect at any later time. */
function retOf<I, O>(op: Operation<I, O>): number {
  return op.output === undefined ? Number.POSITIVE_INFINITY : op.ret;
}

function buildEventList<I, O>(ops: readonly Operation<I, O>[]): Event {
  const order: { time: number; isCall: boolean; op: number }[] = [];
  ops.forEach((op, i) => {
    order.push({ time: op.call, isCall: true, op: i });
    order.push({ time: retOf(op), isCall: false, op: i });
  });
  // At equal times calls go first: touching intervals count as concurrent, the permissive reading.
  order.sort((a, b) =>
    a.time !== b.time
      ? a.time - b.time || 0
      : a.isCall !== b.isCall
        ? a.isCall
          ? -1
          : 1
        : a.op - b.op,
  );
  const returns = new Map<number, Event>();
  for (const e of order) {
    if (!e.isCall) returns.set(e.op, { op: e.op, match: null, prev: null, next: null });
  }
  const head: Event = { op: -1, match: null, prev: null, next: null };
  let tail = head;
  for (const e of order) {
    const ev: Event = e.isCall
      ? { op: e.op, match: returns.get(e.op) ?? null, prev: null, next: null }
      : (returns.get(e.op) as Event);
    ev.prev = tail;
    tail.next = ev;
    tail = ev;
  }
  return head;
}

function lift(entry: Event): void {
  // A call's return always follows it, so entry.next is never null here.
  entry.prev!.next = entry.next;
  entry.next!.prev = entry.prev;
  const match = entry.match!;
  match.prev!.next = match.next;
  if (match.next !== null) match.next.prev = match.prev;
}

function unlift(entry: Event): void {
  const match = entry.match!;
  match.prev!.next = match;
  if (match.next !== null) match.next.prev = match;
  entry.prev!.next = entry;
  entry.next!.prev = entry;
}

function cacheInsert(
  cache: Map<number, { bits: Uint32Array; state: string }[]>,
  hash: number,
  words: Uint32Array,
  state: string,
): boolean {
  const bucket = cache.get(hash);
  if (bucket === undefined) {
    cache.set(hash, [{ bits: words.slice(), state }]);
    return true;
  }
  for (const e of bucket) {
    if (e.state === state && equalWords(e.bits, words)) return false;
  }
  bucket.push({ bits: words.slice(), state });
  return true;
}

function equalWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Per-operation random words: the hash of a set is the XOR of its members', updated in O(1). */
function zobristKeys(n: number): Uint32Array {
  const keys = new Uint32Array(n);
  let s = 0x2545f491;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    keys[i] = s >>> 0;
  }
  return keys;
}

function stringHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Rebuild, from the longest linearizable prefix, what went wrong next: the first operation (in
 * return order) left out of the prefix is the one whose deadline could not be met, and the
 * candidates are everything that had been called by then.
 */
function explain<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  partition: string,
  prefixIdx: readonly number[],
): LinearizabilityExplanation<I, O> {
  let state = model.init();
  const inPrefix = new Set<number>();
  for (const i of prefixIdx) {
    const op = ops[i] as Operation<I, O>;
    const next = model.step(state, op.input, op.output);
    if (next === undefined) throw new Error("linearizability explanation replay diverged");
    state = next;
    inPrefix.add(i);
  }
  const rest = ops.map((op, i) => ({ op, i })).filter(({ i }) => !inPrefix.has(i));
  let blocking: Operation<I, O> | null = null;
  for (const { op } of rest) {
    if (blocking === null || retOf(op) < retOf(blocking)) blocking = op;
  }
  const deadline = blocking === null ? Number.POSITIVE_INFINITY : retOf(blocking);
  const candidates = rest.filter(({ op }) => op.call <= deadline).map(({ op }) => op);
  const fmt = (op: Operation<I, O>): string =>
    `client ${op.clientId} [${op.call}, ${op.output === undefined ? "?" : op.ret}] ${model.describe(op.input, op.output)}`;
  const shownPrefix = prefixIdx.slice(-8).map((i) => fmt(ops[i] as Operation<I, O>));
  const lines = [
    `partition "${partition}": ${ops.length} operations, longest linearizable prefix ${prefixIdx.length}`,
    `  last of prefix: ${shownPrefix.length === 0 ? "(empty)" : ""}`,
    ...shownPrefix.map((s) => `    ${s}`),
    `  state after prefix: ${model.stateKey(state)}`,
    `  cannot linearize: ${blocking === null ? "(none)" : fmt(blocking)}`,
    "  candidates at that point (each tried, none leads to a full linearization):",
    ...candidates.slice(0, 8).map((op) => {
      const ok = model.step(state, op.input, op.output) !== undefined;
      return `    ${fmt(op)}${ok ? "" : "  <- impossible from this state"}`;
    }),
  ];
  return {
    partition,
    longestPrefix: prefixIdx.map((i) => ops[i] as Operation<I, O>),
    stateAfterPrefix: model.stateKey(state),
    blocking,
    candidates,
    message: lines.join("\n"),
  };
}
