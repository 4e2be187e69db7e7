import { describe, expect, it } from "vitest";
import { InvalidHistoryError } from "../errors.js";
import { Rng } from "../rng.js";
import { checkKvHistory, type KvOperation } from "./check-kv.js";
import { applyKv, type KvInput, type KvOutput, type KvRegister } from "./kv-model.js";

const put = (key: string, value: string): KvInput => ({ kind: "put", key, value });
const get = (key: string): KvInput => ({ kind: "get", key });
const append = (key: string, value: string): KvInput => ({ kind: "append", key, value });
const cas = (key: string, expected: string | null, value: string): KvInput => ({
  kind: "cas",
  key,
  expected,
  value,
});
const done: KvOutput = { kind: "done" };
const val = (value: string | null): KvOutput => ({ kind: "value", value });
const swapped = (s: boolean): KvOutput => ({ kind: "cas", swapped: s });

function op(
  clientId: number,
  input: KvInput,
  output: KvOutput | undefined,
  call: number,
  ret: number,
): KvOperation {
  return { clientId, input, output, call, ret };
}

describe("linearizability checker (KV, partitioned by key)", () => {
  it("accepts the empty history", () => {
    expect(checkKvHistory([]).verdict).toBe("linearizable");
  });

  it("accepts a sequential write then read of the written value", () => {
    const h = [op(1, put("x", "1"), done, 0, 1), op(2, get("x"), val("1"), 2, 3)];
    expect(checkKvHistory(h).verdict).toBe("linearizable");
  });

  it("rejects a stale read after a completed write and names the key and the blocking read", () => {
    const h = [
      op(1, put("x", "1"), done, 0, 1),
      op(1, put("x", "2"), done, 2, 3),
      op(2, get("x"), val("1"), 4, 5),
    ];
    const r = checkKvHistory(h);
    expect(r.verdict).toBe("not-linearizable");
    expect(r.explanation?.partition).toBe("x");
    expect(r.explanation?.blocking).toBe(h[2]);
    expect(r.explanation?.longestPrefix).toEqual([h[0], h[1]]);
    expect(r.explanation?.stateAfterPrefix).toBe("=2");
    expect(r.explanation?.message).toContain('get(x) -> "1"');
  });

  it("lets a read concurrent with a write see either value, but never go back in time", () => {
    const ok = [
      op(1, put("x", "1"), done, 0, 10),
      op(2, get("x"), val(null), 1, 2),
      op(2, get("x"), val("1"), 3, 4),
    ];
    expect(checkKvHistory(ok).verdict).toBe("linearizable");
    const bad = [...ok, op(3, get("x"), val(null), 5, 6)];
    expect(checkKvHistory(bad).verdict).toBe("not-linearizable");
  });

  it("rejects a lost write (a later read misses an acknowledged append)", () => {
    const base = [op(1, append("k", "a"), done, 0, 1), op(2, append("k", "b"), done, 2, 3)];
    expect(checkKvHistory([...base, op(3, get("k"), val("ab"), 4, 5)]).verdict).toBe(
      "linearizable",
    );
    const lost = checkKvHistory([...base, op(3, get("k"), val("b"), 4, 5)]);
    expect(lost.verdict).toBe("not-linearizable");
    expect(lost.explanation?.stateAfterPrefix).toBe("=ab");
  });

  it("needs backtracking: concurrent writes may linearize in the order reads imply", () => {
    const h = [
      op(1, put("x", "1"), done, 0, 10),
      op(2, put("x", "2"), done, 1, 9),
      op(3, get("x"), val("2"), 2, 3),
      op(3, get("x"), val("1"), 11, 12),
    ];
    expect(checkKvHistory(h).verdict).toBe("linearizable");
    const bad = [
      op(1, put("x", "1"), done, 0, 10),
      op(2, put("x", "2"), done, 1, 9),
      op(3, get("x"), val("1"), 2, 3),
      op(3, get("x"), val("2"), 4, 5),
      op(3, get("x"), val("1"), 11, 12),
    ];
    expect(checkKvHistory(bad).verdict).toBe("not-linearizable");
  });

  it("treats an unknown outcome as 'may take effect at any later time, or never'", () => {
    const timedOut = op(1, put("x", "1"), undefined, 0, 1);
    // Never observed: fine.
    expect(checkKvHistory([timedOut, op(2, get("x"), val(null), 50, 51)]).verdict).toBe(
      "linearizable",
    );
    // Observed long after the client gave up: fine, it took effect late.
    expect(checkKvHistory([timedOut, op(2, get("x"), val("1"), 50, 51)]).verdict).toBe(
      "linearizable",
    );
    // Observed, then un-observed: impossible.
    const bad = [timedOut, op(2, get("x"), val("1"), 50, 51), op(2, get("x"), val(null), 52, 53)];
    expect(checkKvHistory(bad).verdict).toBe("not-linearizable");
  });

  it("drops reads whose outcome is unknown", () => {
    const h = [op(1, put("x", "1"), done, 0, 1), op(2, get("x"), undefined, 2, 3)];
    expect(checkKvHistory(h)).toMatchObject({ verdict: "linearizable", keys: 1 });
  });

  it("allows only one of two concurrent compare-and-swaps from the same value to succeed", () => {
    const both = [
      op(1, cas("c", null, "a"), swapped(true), 0, 5),
      op(2, cas("c", null, "b"), swapped(true), 1, 6),
    ];
    expect(checkKvHistory(both).verdict).toBe("not-linearizable");
    const one = [
      op(1, cas("c", null, "a"), swapped(true), 0, 5),
      op(2, cas("c", null, "b"), swapped(false), 1, 6),
      op(3, get("c"), val("a"), 7, 8),
    ];
    expect(checkKvHistory(one).verdict).toBe("linearizable");
  });

  it("checks keys independently and reports the failing key", () => {
    const h = [
      op(1, put("a", "1"), done, 0, 1),
      op(2, get("a"), val("1"), 2, 3),
      op(1, put("b", "1"), done, 4, 5),
      op(2, get("b"), val(null), 6, 7),
    ];
    const r = checkKvHistory(h);
    expect(r).toMatchObject({ verdict: "not-linearizable", keys: 2 });
    expect(r.explanation?.partition).toBe("b");
  });

  it("rejects malformed operations with a typed error naming the field", () => {
    const backwards = [op(1, put("x", "1"), done, 5, 4)];
    expect(() => checkKvHistory(backwards)).toThrow(InvalidHistoryError);
    try {
      checkKvHistory(backwards);
    } catch (e) {
      expect(e).toMatchObject({ code: "TESSERA_E_SIM_INVALID_HISTORY", field: "ret", opIndex: 0 });
    }
    expect(() => checkKvHistory([op(1, get("x"), val(null), Number.NaN, 1)])).toThrow(/"call"/);
  });

  it("reports budget exhaustion instead of searching forever", () => {
    const h = randomHistory(new Rng(7), { clients: 6, ops: 300, keys: 1, unknownRate: 0 });
    const r = checkKvHistory(h, { maxSteps: 10 });
    expect(r.verdict).toBe("budget-exhausted");
    expect(r.exhaustedKeys).toEqual(["k0"]);
  });

  it("handles a few thousand concurrent operations, and finds one corrupted read among them", () => {
    const h = randomHistory(new Rng(42), { clients: 8, ops: 4000, keys: 4, unknownRate: 0.02 });
    const r = checkKvHistory(h);
    expect(r).toMatchObject({ verdict: "linearizable", operations: 4000, keys: 4 });

    const readIdx = h.findIndex(
      (o, i) => i > 3000 && o.input.kind === "get" && o.output !== undefined,
    );
    const corrupted = h.map((o, i) => (i === readIdx ? { ...o, output: val("never-written") } : o));
    const bad = checkKvHistory(corrupted);
    expect(bad.verdict).toBe("not-linearizable");
    expect(bad.explanation?.blocking).toBe(corrupted[readIdx]);
  });

  it("handles a single hot key with heavy overlap", () => {
    const h = randomHistory(new Rng(3), { clients: 10, ops: 2000, keys: 1, unknownRate: 0.01 });
    expect(checkKvHistory(h).verdict).toBe("linearizable");
  });
});

/**
 * A history produced by a real single-copy register: each operation takes effect at a random
 * moment between its call and its return, so the result is linearizable by construction.
 */
function randomHistory(
  rng: Rng,
  o: { clients: number; ops: number; keys: number; unknownRate: number },
): KvOperation[] {
  const store = new Map<string, KvRegister>();
  const out: KvOperation[] = [];
  type Pending = { input: KvInput; call: number; output?: KvOutput };
  const pending: (Pending | null)[] = new Array(o.clients).fill(null);
  let t = 0;
  let issued = 0;
  let counter = 0;
  while (out.length < o.ops) {
    const c = rng.int(o.clients);
    const p = pending[c];
    if (p === null || p === undefined) {
      if (issued >= o.ops) continue;
      issued++;
      const key = `k${rng.int(o.keys)}`;
      const roll = rng.int(4);
      const v = `${++counter}.`;
      const input: KvInput =
        roll === 0
          ? get(key)
          : roll === 1
            ? put(key, v)
            : roll === 2
              ? append(key, v)
              : cas(key, store.get(key) ?? null, v);
      pending[c] = { input, call: t++ };
    } else if (p.output === undefined) {
      const r = applyKv(store.get(p.input.key) ?? null, p.input);
      store.set(p.input.key, r.state);
      p.output = r.output;
    } else {
      const unknown = rng.chance(o.unknownRate);
      out.push({
        clientId: c,
        input: p.input,
        output: unknown ? undefined : p.output,
        call: p.call,
        ret: t++,
      });
      pending[c] = null;
    }
  }
  return out;
}
